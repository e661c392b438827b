"""A log drain: every line of an app sent on to the user's own syslog server, HTTPS endpoint or Loki.

The Log Center's ``paas-logs`` has no database: it runs the drains the platform publishes in Redis
(logcenter/drains.py ``publish``). The publishing is tied to the rows here, after the transaction
commits, because an app's drains also go when the app is destroyed (a cascade the app's own
actions know nothing of), and a re-created app of the same name must never inherit them.
"""

from django.db import models, transaction
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver


class LogDrain(models.Model):
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="drains")
    url = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["app", "url"], name="drain_once_per_app")]

    def __str__(self):
        return f"drain {self.pk} of app {self.app_id}"


@receiver(post_save, sender=LogDrain)
def _drain_saved(sender, instance, **kwargs):
    name = instance.app.name
    transaction.on_commit(lambda: publish_app_drains(name))


@receiver(pre_delete, sender=LogDrain)
def _drain_deleted(sender, instance, **kwargs):
    # pre_delete: in a cascade the app's row is still there to name it.
    from paas.platform.models.app import App

    name = App.objects.filter(pk=instance.app_id).values_list("name", flat=True).first()
    if name:
        transaction.on_commit(lambda: publish_app_drains(name))


def publish_app_drains(app_name: str) -> None:
    """Publish the drains ``app_name`` has now (none once it is gone); a Redis failure is logged, and the
    next ``paas drains`` publishes again."""
    import logging

    import redis
    from django.conf import settings

    from paas.logcenter.drains import publish
    from paas.platform.redis_client import get_redis

    drains = [{"id": d.pk, "url": d.url} for d in LogDrain.objects.filter(app__name=app_name)]
    try:
        publish(get_redis(), settings.PAAS_REDIS_PREFIX, app_name, drains)
    except redis.RedisError as exc:
        logging.getLogger("paas.platform.drains").warning("drains of %s not published: %s", app_name, exc)
