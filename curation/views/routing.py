"""Manager pages for LM judges and routing: the project's judges, judging / features / routing runs,
the predicted-quality curve, spend so far, and per item who labelled it and why it was routed."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.judging import prompts
from annotate.judging.endpoints import connection_errors, declared_key_names
from annotate.judging.reward_training import MIN_TRAINING_PAIRS, default_training_slice
from annotate.models import PREFERENCE_LABELS, AnnotationStatus, AnnotatorKind, Item, JudgeBackend, LMJudge, Routing
from annotate.permissions import is_admin, project_for_manager
from curation import calibration, plots, records, routing, routing_sim
from curation.models import RoutingRun
from workers.models import FINISHED_STATES, RunKind, TaskRun
from workers.tasks.judging import start_judging, start_training
from workers.tasks.routing import start_features, start_routing
from workers.views.common import tell_outcome

RUN_KINDS = [RunKind.JUDGE, RunKind.FEATURES, RunKind.ROUTE]
STRATEGY_COLOURS = {
    "ppm": "#3b5bdb",
    "ppm_quadratic": "#7048e8",
    "ppm_simulated": "#1098ad",
    "judge_error": "#c92a2a",
    "random": "#868e96",
    "uncertainty": "#e8590c",
    "disagreement": "#2b8a3e",
}


class JudgeForm(forms.ModelForm):
    """A new judge. Where a judge connects (base URL, key) is for admins only: a manager adds local
    models, or attaches a server judge an admin configured (`AttachJudgeForm`)."""

    CONNECTION_FIELDS = ("base_url", "api_key_name")
    api_key_name = forms.ChoiceField(
        required=False,
        label="API key",
        help_text="One of the keys the deployment declares (TANDEM_JUDGE_KEYS).",
        error_messages={"invalid_choice": "%(value)s is not a key declared in TANDEM_JUDGE_KEYS"},
    )
    parameters = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='e.g. {"temperature": 0, "max_new_tokens": 384, "batch_size": 8}',
    )
    prompt_templates = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Overrides per kind: pairwise, binary, edit.",
    )
    tagger = forms.BooleanField(required=False, help_text="Also tag prompts (domain, task type, ...) with this model.")

    class Meta:
        model = LMJudge
        fields = ["name", "backend", "model", "family", "base_url", "api_key_name", "parameters", "prompt_templates"]
        labels = {"base_url": "Base URL"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin = is_admin(user)
        if self.admin:
            self.fields["api_key_name"].choices = [("", "none")] + [(name, name) for name in declared_key_names()]
            return
        for name in self.CONNECTION_FIELDS:
            del self.fields[name]
        backend = self.fields["backend"]
        backend.choices = [(JudgeBackend.TRANSFORMERS, JudgeBackend.TRANSFORMERS.label)]
        backend.error_messages["invalid_choice"] = (
            "only an admin can add a judge that calls a server; attach one an admin configured, or add a local model"
        )

    def clean(self):
        data = super().clean()
        if self.admin:
            if data.get("backend") == JudgeBackend.OPENAI and not data.get("base_url"):
                self.add_error(
                    "base_url", "an OpenAI-compatible judge needs the server's base URL, e.g. http://127.0.0.1:8000/v1"
                )
            for field, error in connection_errors(data.get("base_url") or "", data.get("api_key_name") or "").items():
                self.add_error(field, error)
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            self.add_error("parameters", "must be a JSON object")
        for error in prompts.validate_overrides(data.get("prompt_templates") or {}):
            self.add_error("prompt_templates", error)
        return data

    def save(self, commit=True):
        judge = super().save(commit=False)
        judge.parameters = {
            **(self.cleaned_data.get("parameters") or {}),
            **({"tagger": True} if self.cleaned_data.get("tagger") else {}),
        }
        judge.prompt_templates = self.cleaned_data.get("prompt_templates") or {}
        if commit:
            judge.save()
        return judge


def attachable_judges(project):
    """Server judges an admin configured that this project does not use yet."""
    return LMJudge.objects.filter(backend=JudgeBackend.OPENAI).exclude(projects=project).order_by("name")


class AttachJudgeForm(forms.Form):
    judge = forms.ModelChoiceField(queryset=LMJudge.objects.none(), help_text="A server judge an admin configured.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["judge"].queryset = attachable_judges(project)


class RouteForm(forms.Form):
    budget = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=30,
        help_text="Percent of items labelled by humans (calibration slice included).",
    )
    count = forms.IntegerField(min_value=0, required=False, help_text="Or a number of items (overrides the percent).")
    strategy = forms.ChoiceField(
        choices=[(s, routing_sim.STRATEGY_LABELS[s]) for s in routing_sim.STRATEGIES], initial="ppm"
    )
    human_route = forms.ChoiceField(
        choices=[(Routing.HUMAN, "humans only"), (Routing.BOTH, "humans and judges")], initial=Routing.HUMAN
    )
    calibration_percent = forms.IntegerField(
        min_value=1,
        max_value=50,
        initial=10,
        help_text="Calibration slice: percent of items labelled by both (drawn once, at random).",
    )
    calibration_minimum = forms.IntegerField(
        min_value=0, initial=calibration.DEFAULT_MINIMUM, help_text="At least this many items in the slice."
    )


class TrainJudgeForm(forms.Form):
    max_items = forms.IntegerField(
        min_value=10,
        max_value=100000,
        initial=500,
        help_text="Random human- or gold-labelled items outside the calibration slice.",
    )


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
    references = [
        plots.Reference(f"{name} {v:.3f}", v, colour)
        for name, v, colour in (
            ("all-human", measured["all_human"][0], "#212529"),
            ("all-judge", measured["all_judge"][0], "#adb5bd"),
        )
        if v is not None
    ]
    svg = plots.band_curves(
        [c for c in curves if c.points],
        references,
        marker=run.budget,
        x_title="items labelled by humans",
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
    return judges


@login_required
def routing_page(request, project_id, judge_form=None, route_form=None, attach_form=None):
    project = project_for_manager(request.user, project_id)
    latest = RoutingRun.objects.filter(project=project).first()
    runs, active = _runs(project)
    top_items = (
        Item.objects.filter(project=project, route_score__isnull=False)
        .select_related("prompt")
        .order_by("-route_score")[:25]
    )
    context = {
        "project": project,
        "judges": _judge_rows(project),
        "judge_form": judge_form or JudgeForm(user=request.user),
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
    form = JudgeForm(request.POST, user=request.user)
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
    item_ids = default_training_slice(project, limit=form.cleaned_data["max_items"])
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
            f"Training {judge.name} on {len(item_ids)} items",
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
        budget=d["budget"] / 100,
        count=d.get("count"),
        strategy=d["strategy"],
        human_route=d["human_route"],
        user=request.user,
        calibration_fraction=d["calibration_percent"] / 100,
        calibration_minimum=d["calibration_minimum"],
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
                "kind": AnnotatorKind(a.annotator.kind).label,
                "aspects": _aspects(a.aspect_ratings),
                "swap": details.get("swap_consistent"),
                "verdicts": details.get("verdicts", []),
                "raw": json.dumps(raw, indent=1, ensure_ascii=False) if raw else "",
                "error": details.get("error", ""),
            }
        )
    features = getattr(item, "features", None)
    reason = item.route_reason or {}
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
            "features": sorted((features.values if features else {}).items()),
            "tags": sorted((features.tags if features else {}).items()),
            "messages_": item.prompt.messages or [],
            "history": records.item_history(project, item),
        },
    )
