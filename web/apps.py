from django.apps import AppConfig


class WebConfig(AppConfig):
    """The manage console at /console/: templates and static files live beside this module."""

    name = "paas.web"
    label = "web"
    verbose_name = "paas console"
