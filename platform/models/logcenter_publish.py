"""How drains and alerts reach ``paas-logs``, which has no database: each app's rows are published in
Redis after the transaction commits (logcenter/drains.py and alerts.py ``publish``).

Tied to the rows rather than to the API's views, because an app's drains and alerts also go when the
app is destroyed (a cascade the app's own actions know nothing of), and a re-created app of the same
name must never inherit them. A Redis failure is logged; listing them publishes again.
"""

import logging

import redis
from django.db import transaction
from django.db.models.signals import post_save, pre_delete

log = logging.getLogger("paas.platform.logcenter")


def published_to_logcenter(model, as_json, publish, extra=None) -> None:
    """Publish ``model``'s rows of an app (each as ``as_json(row)``) with ``publish(client, prefix, app, rows)``
    whenever one is saved or deleted; ``extra(app, rows)``: more rules of the platform's own, after them."""

    def publish_app(app_name: str) -> None:
        from django.conf import settings

        from paas.platform.redis_client import get_redis

        rows = [as_json(row) for row in model.objects.filter(app__name=app_name)]
        if extra is not None:
            rows += extra(app_name, rows)
        try:
            publish(get_redis(), settings.PAAS_REDIS_PREFIX, app_name, rows)
        except redis.RedisError as exc:
            log.warning("%s of %s not published: %s", model.__name__, app_name, exc)

    def saved(sender, instance, **kwargs):
        name = instance.app.name
        transaction.on_commit(lambda: publish_app(name))

    def deleted(sender, instance, **kwargs):
        # pre_delete: in a cascade the app's row is still there to name it.
        from paas.platform.models.app import App

        name = App.objects.filter(pk=instance.app_id).values_list("name", flat=True).first()
        if name:
            transaction.on_commit(lambda: publish_app(name))

    post_save.connect(saved, sender=model, weak=False)
    pre_delete.connect(deleted, sender=model, weak=False)
    model.publish_app = staticmethod(publish_app)
