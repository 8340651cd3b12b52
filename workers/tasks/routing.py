"""Celery tasks: item features and routing (thin wrappers over curation.features / curation.routing)."""
from celery import shared_task

from annotate.models import Annotation, AnnotatorKind, Project
from curation import features, routing
from workers import runs
from workers.models import RunKind, RunState, TaskRun

from .judging import enqueue, execute


@shared_task(bind=True, acks_late=True, max_retries=3)
def compute_features_task(self, run_id):
    def work(run, progress):
        n = features.compute_features(run.project, item_ids=run.params.get("item_ids"), progress=progress)
        return {"items": n}

    return execute(self, run_id, work)


@shared_task(bind=True, acks_late=True, max_retries=3)
def route_task(self, run_id):
    def work(run, progress):
        p = run.params
        missing = list(run.project.items.filter(features__isnull=True).values_list("pk", flat=True))
        if missing or p.get("recompute_features"):
            runs.log(run, f"computing features for {len(missing) if not p.get('recompute_features') else 'all'} items")
            features.compute_features(run.project, item_ids=None if p.get("recompute_features") else missing, progress=progress)
        routing_run = routing.route_project(
            run.project, budget=p.get("budget"), count=p.get("count"), strategy=p.get("strategy", "router"),
            human_route=p.get("human_route", "human"), seed=p.get("seed", 0), user=run.created_by)
        runs.log(run, f"routed: {routing_run.counts}")
        return {"routing_run": routing_run.pk, **routing_run.counts, "timings": routing_run.model.get("timings", {})}

    return execute(self, run_id, work)


def start_features(project, user=None, item_ids=None):
    run = runs.create_run(RunKind.FEATURES, project=project, user=user, params={"item_ids": item_ids})
    return enqueue(compute_features_task, run)


def start_routing(project, budget=None, count=None, strategy="router", human_route="human", user=None, recompute_features=False):
    params = {"budget": budget, "count": count, "strategy": strategy, "human_route": human_route,
              "recompute_features": recompute_features}
    run = runs.create_run(RunKind.ROUTE, project=project, user=user, params=params)
    return enqueue(route_task, run)


@shared_task(acks_late=True)
def reroute_stale_projects(min_new_labels=50):
    """Periodic (celery beat): re-route projects where enough new human labels arrived since their
    last routing run, with that run's budget and strategy, so the router learns as labels come in."""
    started = []
    for project in Project.objects.filter(routing_runs__isnull=False).distinct():
        last = project.routing_runs.first()
        busy = TaskRun.objects.filter(project=project, kind=RunKind.ROUTE, state__in=[RunState.QUEUED, RunState.RUNNING]).exists()
        new = Annotation.objects.filter(item__project=project, annotator__kind=AnnotatorKind.HUMAN, created_at__gt=last.created_at).count()
        if new >= min_new_labels and not busy:
            start_routing(project, budget=last.budget, strategy=last.strategy,
                          human_route=last.model.get("human_route", "human"))
            started.append(project.pk)
    return started
