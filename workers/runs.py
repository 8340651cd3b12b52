"""Run bookkeeping shared by every background task: state, progress, metrics, log tail, cancel.

Services call these helpers; the UI polls the TaskRun row. Writes are single-row UPDATEs so a
progress tick never clobbers a concurrent cancel request.
"""
from django.db.models import F
from django.utils import timezone

from .models import RunState, TaskRun

LOG_TAIL_CHARS = 8000


class RunCancelled(Exception):
    """Raised inside a service when the run's cancel flag is set; the task marks it cancelled."""


def create_run(kind, project=None, params=None, user=None, total=0):
    return TaskRun.objects.create(kind=kind, project=project, params=params or {}, created_by=user, total=total)


def start_run(run, worker="", celery_task_id=""):
    now = timezone.now()
    TaskRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, started_at=now, worker=worker, celery_task_id=celery_task_id,
        attempts=F("attempts") + 1, error="",
    )
    run.refresh_from_db()
    return run


def set_progress(run, progress, total=None):
    """Record progress; raise RunCancelled when a manager asked to stop the run."""
    fields = {"progress": progress}
    if total is not None:
        fields["total"] = total
    TaskRun.objects.filter(pk=run.pk).update(**fields)
    run.progress = progress
    if total is not None:
        run.total = total
    if TaskRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled(f"run {run.pk} cancelled")


def log(run, line):
    run.refresh_from_db(fields=["log_tail"])
    tail = (run.log_tail + line.rstrip() + "\n")[-LOG_TAIL_CHARS:]
    TaskRun.objects.filter(pk=run.pk).update(log_tail=tail)
    run.log_tail = tail


def finish_run(run, metrics=None, state=RunState.SUCCEEDED, error=""):
    fields = {"state": state, "finished_at": timezone.now(), "error": error}
    if metrics is not None:
        fields["metrics"] = metrics
    TaskRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def request_cancel(run):
    TaskRun.objects.filter(pk=run.pk).update(cancel_requested=True)
