import platform

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(f"django {django.get_version()} on python {platform.python_version()}, "
                        f"secret key of {len(settings.SECRET_KEY)} characters", content_type="text/plain")


urlpatterns = [path("", index)]
