"""Celery tasks: fine-tune runs (GPU queue)."""

from workers import finetune as service
from workers.tasks.runs import run_task


@run_task(queue="gpu")
def finetune(run):
    return service.train(run)
