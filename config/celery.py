"""Tandem's Celery app.

Two queues: `cpu` (default: features, routing, noise, schedules) and `gpu` (model work: judging,
rationales, fine-tunes, generation). Start one worker per queue:

    celery -A config worker -Q cpu -c 2
    CUDA_VISIBLE_DEVICES=0 celery -A config worker -Q gpu -c 1 --pool solo   # one per GPU

A GPU worker uses whichever device CUDA_VISIBLE_DEVICES exposes (workers/loading.py); on a
machine without a GPU, `-Q cpu,gpu` runs the same tasks on the CPU. `celery -A config beat`
runs schedules (django-celery-beat) and the stale-run sweeper (which every worker also runs on a
timer). With no CELERY_BROKER_URL the broker is a SQLite file under var/ and `./tandem demo` starts
one worker for both queues beside the server.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tandem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each task names its queue (a task's own `queue` wins over these routes); the routes cover tasks
# sent by name only. Judging picks per backend (local models: gpu, HTTP servers: cpu) itself.
GPU_TASKS = (
    "workers.tasks.rationales.*",
    "workers.tasks.finetune.*",
    "workers.tasks.generation.*",
    "workers.tasks.edits.*",
)
app.conf.task_routes = {pattern: {"queue": "gpu"} for pattern in GPU_TASKS}
# Every worker sweeps stale runs on its own timer too, so nothing depends on beat running.
app.steps["worker"].add("workers.tasks.runs:StaleRunSweeper")
app.conf.beat_schedule = {
    "sweep-stale-runs": {"task": "workers.tasks.runs.sweep_stale_runs", "schedule": 60.0},
}
