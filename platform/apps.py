from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "paas.platform"
    label = "platform"
    verbose_name = "Platform Control"
