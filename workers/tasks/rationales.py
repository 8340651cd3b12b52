"""Celery tasks: rationale generation (GPU queue)."""

from workers import rationales
from workers.tasks.runs import run_task


@run_task(queue="gpu")
def generate_rationales(run):
    return rationales.generate_rationales(run)
