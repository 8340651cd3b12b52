"""Manager pages for LM judges and routing: the project's judges, judging / features / routing runs,
the predicted-quality curve, spend so far, and per item who labelled it and why it was routed."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.judging import backends
from annotate.judging.reward_training import MIN_TRAINING_PAIRS
from annotate.models import PREFERENCE_LABELS, AnnotationStatus, AnnotatorKind, Item, JudgeBackend, LMJudge
from annotate.permissions import is_admin, project_for_manager
from curation import calibration, plots, records, routing, routing_sim
from curation.features import JUDGE_SIGNALS, judge_signals
from curation.forms import AttachJudgeForm, JudgeForm, RouteForm, TrainJudgeForm
from curation.models import RoutingRun
from workers.models import FINISHED_STATES, RunKind, TaskRun
from workers.tasks.judging import start_judging, start_training
from workers.tasks.routing import start_features, start_routing
from workers.views.common import tell_outcome

RUN_KINDS = [RunKind.JUDGE_TRAINING, RunKind.JUDGE, RunKind.FEATURES, RunKind.ROUTE]
STRATEGY_COLOURS = {
    "ppm": "#3b5bdb",
    "ppm_quadratic": "#7048e8",
    "ppm_simulated": "#1098ad",
    "judge_error": "#c92a2a",
    "random": "#868e96",
    "uncertainty": "#e8590c",
    "disagreement": "#2b8a3e",
}

REFERENCE_COLOURS = {"all_human": "#212529", "all_judge": "#d6336c"}  # neither a strategy's nor the marker's


def curve_chart(run):
    """A run's MEASURED curves: held-out proxy-RM accuracy per budget, mean with a ±1 sd band per
    strategy, all-human and all-judge as horizontal lines (drawn by curation.plots), with the legend
    and the table. None without measurements."""
    measured = (run.model or {}).get("measured_curves") or {}
    if not measured.get("measured"):
        return None
    budgets, means, sds = measured["budgets"], measured["mean"], measured["sd"]
    curves = [
        plots.BandCurve(
            name=routing_sim.STRATEGY_LABELS.get(s, s),
            colour=STRATEGY_COLOURS.get(s, "#000"),
            points=[(b, v, d or 0) for b, v, d in zip(budgets, vals, sds[s]) if v is not None],
            bold=s == run.strategy,
        )
        for s, vals in means.items()
    ]
    both = (
        ("people (all-human)", "all_human", REFERENCE_COLOURS["all_human"]),
        ("judges (all-judge)", "all_judge", REFERENCE_COLOURS["all_judge"]),
    )
    references = [
        plots.Reference(f"{key.replace('_', '-')} {v:.3f}" + (f" ± {sd:.3f}" if sd else ""), v, colour)
        for _, key, colour in both
        for v, sd in [measured[key]]  # (mean, sd) over the seeds
        if v is not None
    ]
    svg = plots.band_curves(
        [c for c in curves if c.points],
        references,
        marker=run.budget,
        marker_label=f"budget {100 * run.budget:.0f}%",
        x_title="items labelled by humans",
        y_title="held-out accuracy of the proxy reward model",
        label="Measured held-out accuracy of a proxy reward model by human budget",
    )
    if svg is None:
        return None
    return {
        "svg": svg,
        "lines": [{"label": c.name, "colour": c.colour, "chosen": c.bold} for c in curves if c.points],
        "measured": measured,
        "table": [
            {"budget": round(100 * b), "cells": [(means[s][j], sds[s][j]) for s in means]}
            for j, b in enumerate(budgets)
        ],
        "strategies": [routing_sim.STRATEGY_LABELS.get(s, s) for s in means],
        "references": [(name, *measured[key]) for name, key, _ in both],
        "missing": [
            routing_sim.STRATEGY_LABELS.get(s, s) for s, vals in means.items() if all(v is None for v in vals[1:-1])
        ],
        # a binomial accuracy near 1/2 on n held-out items has sd 1/(2√n): the floor under every curve
        "chance_sd": 0.5 / max(float(measured.get("heldout_size") or 1), 1.0) ** 0.5,
    }


def _runs(project):
    runs = list(TaskRun.objects.filter(project=project, kind__in=RUN_KINDS).order_by("-created_at")[:6])
    return runs, any(r.state not in FINISHED_STATES for r in runs)


def _judge_rows(project):
    judges = (
        LMJudge.objects.filter(projects=project)
        .order_by("name")
        .annotate(
            labels=Count("annotator__annotations", filter=Q(annotator__annotations__item__project=project)),
            unparsed=Count(
                "annotator__annotations",
                filter=Q(
                    annotator__annotations__item__project=project,
                    annotator__annotations__status=AnnotationStatus.UNPARSED,
                ),
            ),
        )
    )
    rows = list(judges)
    labels = dict(backends.choices())
    for judge in rows:  # the backend field has no choices (backends register at run time): no get_…_display
        setattr(judge, "backend_label", labels.get(judge.backend, f"{judge.backend} (not registered)"))  # noqa: B010
    return rows


@login_required
def routing_page(request, project_id, judge_form=None, route_form=None, attach_form=None):
    project = project_for_manager(request.user, project_id)
    latest = RoutingRun.objects.filter(project=project).first()
    runs, active = _runs(project)
    top_items = (  # ranked by the strategy's score; items without a judge label are placed, not ranked
        Item.objects.filter(project=project, route_score__isnull=False)
        .exclude(route_reason__why__in=["unjudged", "unjudged_over_budget"])
        .select_related("prompt")
        .order_by("-route_score")[:25]
    )
    context = {
        "project": project,
        "judges": _judge_rows(project),
        "judge_form": judge_form or JudgeForm(user=request.user, project=project),
        "attach_form": attach_form or AttachJudgeForm(project=project),
        "route_form": route_form or RouteForm(initial={"budget": round(100 * project.human_budget)}),
        "latest": latest,
        "chart": curve_chart(latest) if latest else None,
        "runs": runs,
        "active": active,
        "calibration": calibration.stats(project),
        "train_form": TrainJudgeForm(),
        "spend": routing.spend(project),
        "top_items": top_items,
        "history": RoutingRun.objects.filter(project=project)[:8],
        "featured": project.items.filter(features__isnull=False).count(),
        "item_count": project.items.count(),
    }
    return render(
        request, "curation/routing.html", context, status=400 if (judge_form or route_form or attach_form) else 200
    )


@login_required
def runs_fragment(request, project_id):
    project = project_for_manager(request.user, project_id)
    runs, active = _runs(project)
    response = render(request, "curation/routing_runs.html", {"project": project, "runs": runs, "active": active})
    if not active and request.headers.get("HX-Request") and request.GET.get("was_active"):
        response["HX-Refresh"] = "true"  # a run just finished: reload to show its results
    return response


@login_required
@require_POST
def add_judge(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = JudgeForm(request.POST, user=request.user, project=project)
    if not form.is_valid():
        return routing_page(request, project_id, judge_form=form)
    judge = form.save()
    judge.projects.add(project)
    messages.success(request, f"Judge {judge.name} added.")
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def attach_judge(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = AttachJudgeForm(request.POST, project=project)
    if not form.is_valid():
        return routing_page(request, project_id, attach_form=form)
    judge = form.cleaned_data["judge"]
    judge.projects.add(project)
    messages.success(request, f"Judge {judge.name} added.")
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def remove_judge(request, project_id, judge_id):
    project = project_for_manager(request.user, project_id)
    judge = get_object_or_404(LMJudge, pk=judge_id, projects=project)
    judge.projects.remove(project)  # its labels stay: they are part of the record
    messages.success(request, f"Judge {judge.name} removed from the project; its labels are kept.")
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def train_judge(request, project_id, judge_id):
    project = project_for_manager(request.user, project_id)
    judge = get_object_or_404(LMJudge, pk=judge_id, projects=project, backend=JudgeBackend.EMBEDDING_RM)
    form = TrainJudgeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the number of items to train on (10 or more).")
        return redirect("curation:routing", project_id=project.pk)
    item_ids = calibration.judge_training_slice(project, limit=form.cleaned_data["max_items"])
    if len(item_ids) < MIN_TRAINING_PAIRS:
        messages.error(
            request,
            f"Only {len(item_ids)} pairwise items outside the calibration slice have a human or gold label; "
            f"the embedding reward model needs {MIN_TRAINING_PAIRS}. Import human labels or label some items first.",
        )
    else:
        tell_outcome(
            request,
            start_training(project, judge, item_ids, user=request.user),
            f"Judge training ({judge.name}, {len(item_ids)} items):",
        )
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def run_judging(request, project_id):
    project = project_for_manager(request.user, project_id)
    if not project.judges.exists():
        messages.error(request, "Add a judge first.")
    else:
        for run in start_judging(project, user=request.user):
            tell_outcome(request, run, "Judging")
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def run_features(request, project_id):
    project = project_for_manager(request.user, project_id)
    tell_outcome(request, start_features(project, user=request.user), "Feature computation")
    return redirect("curation:routing", project_id=project.pk)


@login_required
@require_POST
def run_routing(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = RouteForm(request.POST)
    if not form.is_valid():
        return routing_page(request, project_id, route_form=form)
    d = form.cleaned_data
    run = start_routing(
        project,
        budget=None if d["budget"] is None else d["budget"] / 100,
        count=d.get("count"),
        strategy=d["strategy"],
        human_route=d["human_route"],
        user=request.user,
        calibration_fraction=d["calibration_percent"] / 100,
        calibration_minimum=d["calibration_minimum"],
    )
    slice_items, budget_items = calibration.slice_against_budget(
        project, d["budget"], d["count"], d["calibration_percent"] / 100, d["calibration_minimum"]
    )
    if slice_items > budget_items:
        messages.warning(
            request,
            f"The calibration slice ({slice_items} items) is larger than the human budget ({budget_items} items): "
            "the slice goes to people whatever the budget, so people label more than it.",
        )
    tell_outcome(request, run, "Routing")
    return redirect("curation:routing", project_id=project.pk)


def _aspects(ratings):
    out = []
    for aspect, value in (ratings or {}).items():
        if isinstance(value, dict):
            out.append(f"{aspect}: " + " · ".join(f"{side.upper()} {v}" for side, v in value.items()))
        else:
            out.append(f"{aspect}: {value}")
    return out


def _verdict(annotation):
    if annotation.status == AnnotationStatus.UNPARSED:
        return "unparsed"
    if annotation.kind == "pairwise":
        if annotation.preference == 0:
            return PREFERENCE_LABELS[0]
        return f"{annotation.preference:+d} · {PREFERENCE_LABELS[annotation.preference]}"
    if annotation.kind == "binary":
        return "👍 up" if annotation.thumbs == "up" else "👎 down"
    return f"edited (distance {annotation.edit_distance:.2f})" if annotation.edit_distance is not None else "edited"


def _without_server_bodies(raw):
    """The raw replies without what judge servers said besides a completion (admins only)."""
    if not isinstance(raw, dict):
        return raw
    return {k: _without_server_bodies(v) for k, v in raw.items() if k != "error_detail"}


@login_required
def item_page(request, project_id, item_id):
    project = project_for_manager(request.user, project_id)
    admin = is_admin(request.user)
    item = get_object_or_404(
        Item.objects.select_related("prompt", "response_a", "response_b"), pk=item_id, project=project
    )
    labels = []
    for a in item.annotations.select_related("annotator", "annotator__judge").order_by("annotator__kind", "created_at"):
        details = a.details or {}
        raw = details.get("raw") or {}
        raw = raw if admin else _without_server_bodies(raw)
        labels.append(
            {
                "a": a,
                "verdict": _verdict(a),
                "kind": "Imported (people)"
                if a.annotator.kind == AnnotatorKind.SOURCE and a.annotator.is_human
                else AnnotatorKind(a.annotator.kind).label,
                "aspects": _aspects(a.aspect_ratings),
                "swap": details.get("swap_consistent"),
                "verdicts": details.get("verdicts", []),
                "raw": json.dumps(raw, indent=1, ensure_ascii=False) if raw else "",
                "error": details.get("error", ""),
            }
        )
    features = getattr(item, "features", None)
    values = dict(features.values) if features else {}
    if features:  # judge signals as routing reads them (live), not the copy stored with the features
        values.update(dict.fromkeys(JUDGE_SIGNALS) | judge_signals([item.pk]).get(item.pk, {}))
    reason = item.route_reason or {}
    people_since = reason.get("why") in ("judge", "unjudged_over_budget") and any(
        l["a"].annotator.is_human for l in labels
    )
    return render(
        request,
        "curation/routing_item.html",
        {
            "project": project,
            "item": item,
            "labels": labels,
            "reason": reason,
            "top": [
                {"feature": t[0], "contribution": t[1], "value": t[2] if len(t) > 2 else None}
                for t in reason.get("top", [])
            ],
            "features": sorted(values.items()),
            "people_since": people_since,
            "tags": sorted((features.tags if features else {}).items()),
            "messages_": item.prompt.messages or [],
            "history": records.item_history(project, item),
        },
    )
