"""Run bookkeeping shared by every background task: state, progress, metrics, log tail, cancel,
and the heartbeat that lets a second worker take over a run whose worker died.

Services call these helpers; the UI polls the TaskRun row. Writes are single-row UPDATEs so a
progress tick never clobbers a concurrent cancel request.
"""

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotate.models import Project
from workers.models import FINISHED_STATES, RunState, TaskRun

LOG_TAIL_CHARS = 8000


def heartbeat_seconds() -> float:
    return float(os.environ.get("TANDEM_RUN_HEARTBEAT_SECONDS", "20"))


def stale_seconds() -> float:
    """A running run with no heartbeat for this long belongs to a dead worker."""
    return float(os.environ.get("TANDEM_RUN_STALE_SECONDS", "120"))


class RunCancelled(Exception):
    """Raised inside a service when the run's cancel flag is set; the task marks it cancelled."""


class RunFailed(Exception):
    """Raised by a service whose work ran to the end but whose outcome is unusable (e.g. no judge
    reply parsed): the run fails with this message, no traceback, and keeps `metrics`."""

    def __init__(self, message: str, metrics: dict[str, Any] | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


def project_of(run: TaskRun) -> Project:
    """The project of a project-scoped run (every run kind but a few maintenance tasks has one)."""
    if run.project is None:
        raise ValueError(f"run {run.pk} has no project")
    return run.project


def create_run(
    kind: str,
    project: Project | None = None,
    params: dict[str, Any] | None = None,
    user: User | None = None,
    total: int = 0,
    task_name: str = "",
) -> TaskRun:
    return TaskRun.objects.create(
        kind=kind, project=project, params=params or {}, created_by=user, total=total, task_name=task_name
    )


def _running(worker: str, celery_task_id: str) -> dict:
    """The fields a run gets when a worker takes it (one more attempt, the last error cleared)."""
    now = timezone.now()
    return {
        "state": RunState.RUNNING,
        "started_at": now,
        "heartbeat_at": now,
        "worker": worker,
        "celery_task_id": celery_task_id,
        "attempts": F("attempts") + 1,
        "error": "",
    }


def start_run(run: TaskRun, worker: str = "", celery_task_id: str = "") -> TaskRun:
    TaskRun.objects.filter(pk=run.pk).update(**_running(worker, celery_task_id))
    run.refresh_from_db()
    return run


CLAIMED, FINISHED, BUSY = "claimed", "finished", "busy"


@dataclass(frozen=True)
class Claim:
    run: TaskRun | None  # None: no such run (deleted)
    outcome: str  # CLAIMED, FINISHED or BUSY


def claim_run(run_id: int, worker: str = "", celery_task_id: str = "") -> Claim:
    """Atomically take a run for this worker. The Claim's outcome:
    claimed  — queued, or running with a stale heartbeat (its worker died): ours now;
    finished — nothing to do (a redelivered message for a run that already ended);
    busy     — a live worker is on it (a duplicate delivery): leave it alone.
    """
    stale_before = timezone.now() - timedelta(seconds=stale_seconds())
    takeable = Q(state=RunState.QUEUED) | Q(state=RunState.RUNNING) & (
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at=None)
    )
    taken = TaskRun.objects.filter(takeable, pk=run_id).update(**_running(worker, celery_task_id))
    run = TaskRun.objects.filter(pk=run_id).first()
    if run is None or run.state in FINISHED_STATES:
        return Claim(run, FINISHED)
    return Claim(run, CLAIMED if taken else BUSY)


def heartbeat(run: TaskRun) -> None:
    TaskRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(heartbeat_at=timezone.now())


def set_progress(run: TaskRun, progress: int, total: int | None = None) -> None:
    """Record progress; raise RunCancelled when a manager asked to stop the run."""
    fields: dict[str, Any] = {"progress": progress, "heartbeat_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    TaskRun.objects.filter(pk=run.pk).update(**fields)
    run.progress = progress
    if total is not None:
        run.total = total
    if TaskRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled(f"run {run.pk} cancelled")


def record(
    run: TaskRun,
    progress: int | None = None,
    total: int | None = None,
    metrics: dict[str, Any] | None = None,
    lines: Iterable[str] = (),
) -> None:
    """A progress tick in one UPDATE (progress, merged metrics, log lines, heartbeat), then the
    cancel check; raises RunCancelled. For loops that report often: one commit per tick, not four.
    Uses the run's in-memory metrics and log, which only the worker running it writes."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = run.progress = progress
    if total is not None:
        fields["total"] = run.total = total
    if metrics:
        fields["metrics"] = run.metrics = {**run.metrics, **metrics}
    if lines:
        fields["log_tail"] = run.log_tail = (run.log_tail + "\n".join(l.rstrip() for l in lines) + "\n")[
            -LOG_TAIL_CHARS:
        ]
    TaskRun.objects.filter(pk=run.pk).update(**fields)
    if TaskRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled(f"run {run.pk} cancelled")


def raise_if_cancelled(run: TaskRun) -> None:
    """A progress point without progress: stop here (RunCancelled) when a manager asked to."""
    if TaskRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled(f"run {run.pk} cancelled")


def log(run: TaskRun, line: str) -> None:
    run.refresh_from_db(fields=["log_tail"])
    tail = (run.log_tail + line.rstrip() + "\n")[-LOG_TAIL_CHARS:]
    TaskRun.objects.filter(pk=run.pk).update(log_tail=tail)
    run.log_tail = tail


def update_metrics(run: TaskRun, **values: Any) -> dict[str, Any]:
    """Merge values into the run's metrics (the UI shows them while the run goes on)."""
    run.refresh_from_db(fields=["metrics"])
    metrics = {**run.metrics, **values}
    TaskRun.objects.filter(pk=run.pk).update(metrics=metrics)
    run.metrics = metrics
    return metrics


def finish_run(
    run: TaskRun, metrics: dict[str, Any] | None = None, state: str = RunState.SUCCEEDED, error: str = ""
) -> TaskRun:
    fields: dict[str, Any] = {"state": state, "finished_at": timezone.now(), "error": error}
    if metrics is not None:
        fields["metrics"] = metrics
    TaskRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def release_run(run: TaskRun, error: str = "") -> None:
    """Hand a run back to the queue (a transient error: the task will be retried)."""
    TaskRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(state=RunState.QUEUED, error=error[-2000:])


def request_cancel(run: TaskRun) -> None:
    """Ask a run to stop. A queued run stops at once; a running one at its next progress tick."""
    TaskRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    TaskRun.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
        state=RunState.CANCELLED, finished_at=timezone.now()
    )


def retry_run(run: TaskRun) -> bool:
    """Put a failed or cancelled run back in the queue (the caller sends its task again). Services
    resume: rows already written are kept, a fine-tune starts from an empty directory."""
    updated = TaskRun.objects.filter(pk=run.pk, state__in=[RunState.FAILED, RunState.CANCELLED]).update(
        state=RunState.QUEUED, cancel_requested=False, error="", finished_at=None, progress=0
    )
    run.refresh_from_db()
    return bool(updated)


def stale_runs() -> QuerySet[TaskRun]:
    cutoff = timezone.now() - timedelta(seconds=stale_seconds())
    return TaskRun.objects.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None), state=RunState.RUNNING)


def run_dir(run: TaskRun) -> Path:
    """Where a run writes its artifacts: ARTIFACTS_DIR/<run id>/."""
    return Path(settings.ARTIFACTS_DIR) / str(run.pk)


def artifacts(run: TaskRun) -> list[tuple[str, int]]:
    """Files a run wrote, as (relative path, bytes), for the run page."""
    root = run_dir(run)
    if not root.exists():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
