"""Celery task: the near-duplicate prompt search behind the dashboard's dedupe preview (a thin
wrapper over curation.dedupe). It embeds every distinct prompt of the project, which is too long to
run inside a web request; the preview page polls the run and shows its groups when it is done."""

from django.db import transaction

from curation import dedupe
from workers import runs
from workers.models import RunKind, RunState, TaskRun
from workers.tasks.runs import enqueue, run_task


@run_task(queue="cpu")
def find_duplicates(run):
    threshold = float(run.params["threshold"])
    fingerprint = dedupe.prompt_fingerprint(run.project)
    groups = dedupe.near_duplicate_groups(run.project, threshold)
    runs.log(run, f"{len(groups)} groups of near-duplicate prompts at cosine ≥ {threshold}")
    return {
        "groups": groups,
        "group_count": len(groups),
        "digest": dedupe.groups_digest(groups),
        "prompts": fingerprint,
    }


def start_dedupe_search(project, threshold, user=None):
    run = runs.create_run(RunKind.DEDUPE, project=project, params={"threshold": float(threshold)}, user=user)
    transaction.on_commit(lambda: enqueue(find_duplicates, run))
    return run


def latest_search(project, threshold):
    """The newest search at this threshold, or None."""
    return (
        TaskRun.objects.filter(project=project, kind=RunKind.DEDUPE, params__threshold=float(threshold))
        .order_by("-created_at", "-pk")
        .first()
    )


def current_groups(project, run):
    """The groups of a finished search while the project's prompts are still those it searched."""
    if run is None or run.state != RunState.SUCCEEDED:
        return None
    metrics = run.metrics or {}
    if metrics.get("prompts") != dedupe.prompt_fingerprint(project):
        return None
    return metrics.get("groups", [])
