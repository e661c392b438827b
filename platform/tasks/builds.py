"""The build task (queue ``builds``): idempotent, acked late, with a hard time limit."""

from celery import shared_task
from django.conf import settings

from paas.platform.builds.pipeline import run_build

# The build's own time limit applies inside; these are the backstop for a stuck worker.
HARD_LIMIT_S = settings.PAAS_BUILD_TIMEOUT_S + 300


@shared_task(
    name="paas.platform.tasks.builds.build",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=HARD_LIMIT_S,
    soft_time_limit=HARD_LIMIT_S - 60,
)
def build(build_id: int) -> str:
    return run_build(build_id)
