"""The curation dashboard's expensive figures (agreement, annotator quality, the noise histogram,
activity charts, edit distance), computed off the request and kept in the cache with the time
they were computed.

The page never computes them: it shows what the cache holds (with its age), and when that is
missing or stale (the labels changed since) it asks for a refresh and polls. A refresh is claimed
with a short-lived lock so many open dashboards start one computation, not one each.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from annotate.models import Annotation
from curation import plots
from curation.activity import activity_charts, project_activity
from curation.agreement import project_agreement
from curation.models import NoiseRun
from curation.noise import MIN_GOLD_FOR_PPI, noise_histogram
from curation.quality import annotator_quality

LOCK_SECONDS = 600  # a refresh that died frees its claim after this long


@dataclass
class CachedFigures:
    figures: dict[str, Any]
    fingerprint: str
    computed_at: datetime


@dataclass
class FigureState:
    cached: CachedFigures | None
    fresh: bool  # the labels have not changed since the figures were computed


def _key(project_id):
    return f"curation:dashboard-figures:{project_id}"


def _lock_key(project_id):
    return f"curation:dashboard-figures-lock:{project_id}"


def fingerprint(project) -> str:
    """Changes whenever a figure could: new or removed labels, a new noise run, gold items changed."""
    labels = Annotation.objects.filter(item__project=project).aggregate(n=Count("id"), last=Max("id"))
    gold = project.items.filter(is_gold=True).aggregate(n=Count("id"), last=Max("id"))
    noise = NoiseRun.objects.filter(project=project).aggregate(last=Max("id"))
    return f"{labels['n']}-{labels['last']}-{gold['n']}-{gold['last']}-{noise['last']}"


def compute_figures(project) -> dict[str, Any]:
    """Every cached figure of the dashboard (seconds on a big project: call it from a task)."""
    agreement, quality = project_agreement(project), annotator_quality(project)
    bias_rows = [
        (f"{b['name']} ({b['decisive']})", b["left_rate"], b["p_value"] < 0.01) for b in agreement["position_bias"]
    ]
    run = NoiseRun.objects.filter(project=project).first()
    counts, edges = noise_histogram(project)
    epsilon = run.epsilon if run is not None else None  # withheld when the labels carry too little evidence
    judge_rows = [
        (j["name"], j["agreement"], False) for j in agreement["human_judge"]["judges"] if j["agreement"] is not None
    ]
    return {
        "agreement": agreement,
        "quality": quality,
        "flagged": sum(q["flagged"] for q in quality),
        "bias_plot": plots.hbars(
            bias_rows, reference=0.5, label="Share of decisive labels where the left response won"
        ),
        "judge_plot": plots.hbars(judge_rows, label="Agreement of each LM judge with people's majority"),
        "noise_run": run,
        "min_gold": MIN_GOLD_FOR_PPI,
        "noise_plot": plots.histogram(
            counts if sum(counts) else [],
            edges,
            marker=epsilon,
            marker_label=f"ε = {epsilon:.3f}" if epsilon is not None else "",
            label="Posterior probability that a label is wrong",
        ),
        **activity_charts(project_activity(project)),
    }


def store(project, figures: dict[str, Any], print_: str) -> CachedFigures:
    cached = CachedFigures(figures=figures, fingerprint=print_, computed_at=timezone.now())
    cache.set(_key(project.pk), cached, timeout=None)
    return cached


def state(project) -> FigureState:
    cached = cache.get(_key(project.pk))
    return FigureState(cached=cached, fresh=bool(cached and cached.fingerprint == fingerprint(project)))


def claim_refresh(project) -> bool:
    """True for the one caller that should start a refresh now (others find it claimed)."""
    return cache.add(_lock_key(project.pk), timezone.now().isoformat(), timeout=LOCK_SECONDS)


def refresh(project, extra=None) -> CachedFigures:
    """Compute and store the figures (the task's body); `extra` adds figures computed by a higher
    layer (the runs app's edit-distance chart). Frees the claim whatever happens."""
    try:
        print_ = fingerprint(project)  # taken first: labels arriving meanwhile make the result stale, not wrong
        figures = compute_figures(project)
        if extra is not None:
            figures.update(extra(project))
        return store(project, figures, print_)
    finally:
        release(project)


def release(project) -> None:
    cache.delete(_lock_key(project.pk))


def forget(project) -> None:
    cache.delete_many([_key(project.pk), _lock_key(project.pk)])
