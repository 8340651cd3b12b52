"""Celery tasks: candidate generation (GPU queue)."""

from workers import generation
from workers.tasks.runs import run_task


@run_task(queue="gpu")
def generate_candidates(run):
    return generation.generate_candidates(run)
