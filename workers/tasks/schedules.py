"""Celery tasks: scheduled fine-tunes (called by django-celery-beat; CPU queue — the training
itself is queued on the GPU queue)."""

from celery import shared_task

from workers import schedules

from .runs import TRANSIENT_ERRORS


@shared_task(
    name=schedules.TASK_NAME,
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def run_schedule(schedule_id):
    outcome, ft = schedules.fire(schedule_id)
    return outcome
