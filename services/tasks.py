"""The backup task (queue ``builds``, the worker make up runs): thin, idempotent, acked late."""

from celery import shared_task

from paas.services.backups import TASK_NAME, run

HARD_LIMIT_S = 2 * 3600


@shared_task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True,
             time_limit=HARD_LIMIT_S, soft_time_limit=HARD_LIMIT_S - 60)
def backup(backup_id: int) -> str:
    return run(backup_id)
