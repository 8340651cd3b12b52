"""Celery tasks: latent preferences from edits (GPU queue)."""

from workers import latent_prefs
from workers.tasks.runs import run_task


@run_task(queue="gpu")
def infer_preferences(run):
    return latent_prefs.infer_preferences(run)
