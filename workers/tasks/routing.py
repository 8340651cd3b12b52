"""Celery tasks: item features and routing (thin wrappers over curation.features / curation.routing)."""

import time

from celery import shared_task

from annotate.models import Annotation, Project, human_label_q
from curation import calibration, features, routing
from workers import runs
from workers.ml import static_embeddings
from workers.ml.static_embeddings import StaticMiniLM
from workers.models import RunKind, RunState, TaskRun
from workers.tasks.runs import enqueue, run_task


def prepare_encoder(run: TaskRun) -> None:
    """Before a features pass: on a machine without the static MiniLM's vectors, distil them now, with
    a log line and a progress count in the run's metrics (about a minute, once per machine)."""
    encoder = features.feature_encoder()
    if isinstance(encoder, StaticMiniLM) and not static_embeddings.distilled():
        runs.log(run, "distilling MiniLM's static token vectors: once per machine, about a minute on 2 CPU cores")
        encoder.prepare(lambda done, total: runs.record(run, metrics={"distilled_tokens": f"{done:,} / {total:,}"}))
        runs.log(run, "static token vectors ready")


@run_task(queue="cpu")
def compute_features(run):
    """Features in a worker, never in a request: each chunk writes progress, the embedding-cache
    counts and items/s to the run in one UPDATE (and stops there when the run is cancelled)."""
    counts, started = features.FeatureCounts(), time.monotonic()

    def tick(done, total):
        seconds = time.monotonic() - started
        runs.record(
            run,
            progress=done,
            total=total,
            metrics={**counts.metrics(), "items_per_s": round(done / seconds, 1) if seconds > 0 else None},
        )

    prepare_encoder(run)
    features.compute_features(run.project, item_ids=run.params.get("item_ids"), progress=tick, counts=counts)
    return {**counts.metrics(), "seconds": round(time.monotonic() - started, 2)}


@run_task(queue="cpu")
def route(run):
    p = run.params
    # items without features, or with similarity features from another encoder (a changed setting, or
    # rows from before it was recorded): one project's features never mix two encoders' scales
    current = features.feature_encoder().name
    missing = list(run.project.items.exclude(features__encoder=current).values_list("pk", flat=True))
    if missing or p.get("recompute_features"):
        runs.log(run, f"computing features for {'all' if p.get('recompute_features') else len(missing)} items")
        prepare_encoder(run)
        features.compute_features(
            run.project,
            item_ids=None if p.get("recompute_features") else missing,
            progress=lambda done, total: runs.set_progress(run, done, total),
        )
    runs.raise_if_cancelled(run)  # the fit below has no progress points of its own
    runs.log(run, "routing; measuring every strategy's curve (a proxy reward model per strategy, budget and seed)")
    routing_run = routing.route_project(
        run.project,
        budget=p.get("budget"),
        count=p.get("count"),
        strategy=p.get("strategy", "ppm"),
        human_route=p.get("human_route", "human"),
        seed=p.get("seed", 0),
        user=run.created_by,
        calibration_fraction=p.get("calibration_fraction", calibration.DEFAULT_FRACTION),
        calibration_minimum=p.get("calibration_minimum", calibration.DEFAULT_MINIMUM),
    )
    runs.log(run, f"routed: {routing_run.counts}")
    return {"routing_run": routing_run.pk, **routing_run.counts, "timings": routing_run.model.get("timings", {})}


def _start(task, kind, project, user, params):
    run = runs.create_run(kind, project=project, user=user, params=params, task_name=task.name)
    enqueue(task, run)
    run.refresh_from_db()
    return run


def start_features(project, user=None, item_ids=None):
    return _start(compute_features, RunKind.FEATURES, project, user, {"item_ids": item_ids})


def start_routing(
    project,
    budget=None,
    count=None,
    strategy="ppm",
    human_route="human",
    user=None,
    recompute_features=False,
    calibration_fraction=calibration.DEFAULT_FRACTION,
    calibration_minimum=calibration.DEFAULT_MINIMUM,
):
    params = {
        "budget": budget,
        "count": count,
        "strategy": strategy,
        "human_route": human_route,
        "recompute_features": recompute_features,
        "calibration_fraction": calibration_fraction,
        "calibration_minimum": calibration_minimum,
    }
    return _start(route, RunKind.ROUTE, project, user, params)


@shared_task(name="workers.tasks.routing.reroute_stale_projects", queue="cpu", acks_late=True)
def reroute_stale_projects(min_new_labels=50):
    """Periodic (celery beat): re-route projects where enough new human labels arrived since their
    last routing run, with that run's budget and strategy, so the router learns as labels come in."""
    started = []
    for project in Project.objects.filter(routing_runs__isnull=False).distinct():
        last = project.routing_runs.first()
        if last is None:  # its runs were deleted since the query above
            continue
        busy = TaskRun.objects.filter(
            project=project, kind=RunKind.ROUTE, state__in=[RunState.QUEUED, RunState.RUNNING]
        ).exists()
        new = Annotation.objects.filter(  # people's labels, imports declared human included
            human_label_q(), item__project=project, created_at__gt=last.created_at
        ).count()
        if new >= min_new_labels and not busy:
            strategy = "judge_error" if last.strategy == "router" else last.strategy
            start_routing(
                project,
                budget=last.budget,
                strategy=strategy,
                human_route=last.model.get("human_route", "human"),
                calibration_fraction=0.0,
                calibration_minimum=0,
            )  # keep the slice as drawn
            started.append(project.pk)
    return started
