"""Celery task: preference groups (a thin wrapper over curation.pluralism.fit_groups)."""

from django.db import transaction

from curation.pluralism import fit_groups
from workers import runs
from workers.models import RunKind
from workers.tasks.runs import enqueue, run_task


@run_task(queue="cpu")
def fit_preference_groups(run):
    """Fit the project's preference groups; re-running replaces the run's own result."""
    params = run.params or {}
    group_run = fit_groups(run.project, task_run=run, k_max=int(params.get("k_max", 4)))
    runs.log(run, f"groups run {group_run.pk}: K = {group_run.k}, {len(group_run.controversial)} controversial items")
    return {
        "group_run": group_run.pk,
        "k": group_run.k,
        "controversial": len(group_run.controversial),
        "heldout": group_run.heldout,
    }


def start_group_run(project, user=None, k_max=4):
    """Create the run record and queue the task once the transaction commits."""
    run = runs.create_run(RunKind.GROUPS, project=project, params={"k_max": k_max}, user=user)
    transaction.on_commit(lambda: enqueue(fit_preference_groups, run))
    return run
