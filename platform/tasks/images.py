"""The image store's collection (queue ``builds``: the worker that shares the control host's store), and the
build engine's (the worker that has PAAS_BUILD_DOCKER_HOST)."""

from celery import shared_task

from paas.platform.control.imagegc import ENGINE_TASK_NAME, TASK_NAME, collect, collect_engine

HARD_LIMIT_S = 1800


@shared_task(name=TASK_NAME, acks_late=True, time_limit=HARD_LIMIT_S, soft_time_limit=HARD_LIMIT_S - 60)
def collect_task() -> int:
    return len(collect())


@shared_task(name=ENGINE_TASK_NAME, acks_late=True, time_limit=HARD_LIMIT_S, soft_time_limit=HARD_LIMIT_S - 60)
def collect_engine_task() -> int:
    return len(collect_engine())
