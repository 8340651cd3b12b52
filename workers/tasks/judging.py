"""Celery tasks: LM judging. Thin wrappers over annotate.judging.service; run bookkeeping
(state, progress, cancel) via workers.runs. `execute` is shared with the routing tasks."""
import socket

from celery import shared_task
from django.conf import settings

from annotate.judging import service
from annotate.judging.backends import TransientBackendError
from annotate.models import LMJudge, Project
from workers import runs
from workers.models import RunKind, RunState, TaskRun


def execute(task, run_id, work):
    """Run `work(run, progress)` under the TaskRun's bookkeeping. A finished run is not redone
    (a redelivered message after success is a no-op); a cancelled one stops at the next tick."""
    run = TaskRun.objects.get(pk=run_id)
    if run.finished:
        return run.metrics
    if run.cancel_requested:
        runs.finish_run(run, state=RunState.CANCELLED)
        return {}
    runs.start_run(run, worker=socket.gethostname(), celery_task_id=getattr(task.request, "id", "") or "")

    def progress(done, total):
        runs.set_progress(run, done, total)

    try:
        metrics = work(run, progress)
    except runs.RunCancelled:
        runs.finish_run(run, state=RunState.CANCELLED)
        return {}
    except TransientBackendError as exc:
        runs.log(run, f"transient failure: {exc}")
        retries = getattr(task.request, "retries", 0)
        if not task.request.is_eager and retries < task.max_retries:
            TaskRun.objects.filter(pk=run.pk).update(state=RunState.QUEUED)
            raise task.retry(exc=exc, countdown=30 * (2 ** retries))
        runs.finish_run(run, state=RunState.FAILED, error=str(exc))
        raise
    except Exception as exc:
        runs.finish_run(run, state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    runs.finish_run(run, metrics=metrics)
    return metrics


@shared_task(bind=True, acks_late=True, max_retries=3)
def judge_project_task(self, run_id):
    def work(run, progress):
        judges = LMJudge.objects.filter(pk__in=run.params.get("judge_ids", []))
        result = service.judge_project(run.project, judges=judges, item_ids=run.params.get("item_ids"), progress=progress)
        for name, counts in result["judges"].items():
            runs.log(run, f"{name}: {counts}")
        return result

    return execute(self, run_id, work)


def queue_for(judges):
    """Local models run where the GPU is; HTTP judges only wait on the network."""
    if any(j.backend == "transformers" for j in judges):
        return getattr(settings, "JUDGE_LOCAL_QUEUE", "gpu")
    return settings.CELERY_TASK_DEFAULT_QUEUE


def start_judging(project: Project, judges=None, user=None, item_ids=None):
    judges = list(judges if judges is not None else project.judges.all())
    run = runs.create_run(RunKind.JUDGE, project=project, user=user,
                          params={"judge_ids": [j.pk for j in judges], "item_ids": item_ids})
    return enqueue(judge_project_task, run, queue_for(judges))


def enqueue(task, run, queue=None):
    """Send the run's task. In-process (eager) mode a failure is already recorded on the run, so
    the caller (a web request) gets the failed run back rather than the exception."""
    try:
        task.apply_async(args=[run.pk], queue=queue or settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise
    run.refresh_from_db()
    return run
