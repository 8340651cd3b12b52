"""Celery tasks, one module per kind of work; each task is a thin wrapper over a service function.
Importing this package registers them all (Celery's autodiscovery imports `workers.tasks`)."""

from workers.tasks import (
    bias,
    dashboard,
    dedupe,
    edits,
    error_tags,
    finetune,
    generation,
    judging,
    noise,
    pluralism,
    rationales,
    routing,
    runs,
    schedules,
)

__all__ = [
    "bias",
    "dashboard",
    "dedupe",
    "edits",
    "error_tags",
    "finetune",
    "generation",
    "judging",
    "noise",
    "pluralism",
    "rationales",
    "routing",
    "runs",
    "schedules",
]
