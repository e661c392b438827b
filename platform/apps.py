from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "paas.platform"
    label = "platform"
    verbose_name = "Platform Control"

    def ready(self):
        # Bind shared tasks to our Celery app (broker from settings) in every process.
        from paas.platform import celery  # noqa: F401
