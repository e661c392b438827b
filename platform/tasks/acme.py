"""The ACME order task (queue ``builds``, the worker make up runs): thin, idempotent, acked late.

Retries are Platform Control's: a failed order is recorded with its next try (control/acme.py),
and a lost task's lease runs out, so the tick after sends it again.
"""

from celery import shared_task

from paas.platform.control.acme import TASK_NAME, run_order

HARD_LIMIT_S = 300


@shared_task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True,
             time_limit=HARD_LIMIT_S, soft_time_limit=HARD_LIMIT_S - 30)
def order_task(domain_id: int) -> str:
    return run_order(domain_id)
