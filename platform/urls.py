from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("paas.platform.api.urls")),
    path("admin/", admin.site.urls),
    path("console/", include("paas.web.urls")),
]
