"""Celery task: the judge-bias audit (a thin wrapper over curation.bias_store.compute). The audit
page never computes it: it shows the last stored audit and starts this run to recompute."""

from django.db import transaction

from curation.bias_store import compute
from workers import runs
from workers.models import FINISHED_STATES, RunKind, TaskRun
from workers.tasks.runs import enqueue, run_task


@run_task(queue="cpu")
def compute_bias_audit(run):
    """Compute and store the audit; progress per labeller, a cancel stops it between labellers."""
    stored = compute(run.project, task_run=run, progress=lambda done, total: runs.set_progress(run, done, total))
    labellers = len(stored.result.get("rows", []))
    runs.log(run, f"bias audit {stored.pk}: {labellers} rows over {stored.result.get('items', 0)} items")
    return {"bias_audit": stored.pk, "rows": labellers, "items": stored.result.get("items", 0)}


def active_run(project) -> TaskRun | None:
    return TaskRun.objects.filter(project=project, kind=RunKind.BIAS_AUDIT).exclude(state__in=FINISHED_STATES).first()


def start_bias_audit(project, user=None) -> TaskRun:
    """Queue a recompute once the transaction commits; an audit already queued or running is
    returned instead of starting a second one."""
    run = active_run(project)
    if run is not None:
        return run
    run = runs.create_run(RunKind.BIAS_AUDIT, project=project, user=user, task_name=compute_bias_audit.name)
    transaction.on_commit(lambda: enqueue(compute_bias_audit, run))
    return run
