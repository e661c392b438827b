"""The image store's collection (queue ``builds``: the worker that shares the control host's store)."""

from celery import shared_task

from paas.platform.control.imagegc import TASK_NAME, collect

HARD_LIMIT_S = 1800


@shared_task(name=TASK_NAME, acks_late=True, time_limit=HARD_LIMIT_S, soft_time_limit=HARD_LIMIT_S - 60)
def collect_task() -> int:
    return len(collect())
