"""Latent preferences shown back to the annotator (a fragment the workspace can include with
hx-get="{% url 'workers:latent_prefs' project_id %}?item=<item_id>"), their corrections, and the manager's start form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.errors import ServiceError
from annotate.models import Annotator, Item
from annotate.permissions import project_for_annotator, project_for_manager
from curation import plots
from workers import latent_prefs, prelude_cost
from workers.models import LatentPreference, ModelSpec
from workers.tasks.edits import infer_preferences
from workers.views.common import send_and_show

SHOWN = 20


def _annotator(user):
    return Annotator.objects.filter(user=user).first()


def prefs_context(request, project):
    annotator = _annotator(request.user)
    context_text = (request.GET.get("context") or "").strip()[:4000]
    item_id = request.GET.get("item")
    item = None
    if item_id and item_id.isdigit():
        item = Item.objects.filter(pk=item_id, project=project).select_related("prompt", "response_a").first()
        context_text = item.prompt.text if item else context_text
    retrieved, aggregation = [], None
    if annotator and context_text:
        retrieved = latent_prefs.retrieve(annotator, project, context_text)
        meta = (item.response_a.metadata or {}) if item and item.response_a_id else {}
        if meta.get("preference") and meta.get("preference_annotator") == annotator.pk:
            # the response was generated with a model-aggregated preference: show that one
            aggregation = latent_prefs.Aggregation(
                meta["preference"], meta.get("aggregated", "model"), meta.get("aggregated_by", "")
            )
        else:  # no model runs inside a web request: the labelled fallback
            aggregation = latent_prefs.aggregate(retrieved)
    instruction = aggregation.text if aggregation else ""
    mine = LatentPreference.objects.filter(project=project, annotator=annotator)[:SHOWN] if annotator else []
    return {
        "project": project,
        "context_text": context_text,
        "retrieved": retrieved,
        "instruction": instruction,
        "aggregation": aggregation,
        "prelude": prelude_chart(project, annotator) if annotator else None,
        "mine": mine,
        "item_id": item_id or "",
    }


def prelude_chart(project, annotator):
    """PRELUDE's cost for this annotator: cumulative edit distance, with versus without their
    preference in the generation prompt (x: their n-th edit in that condition)."""
    cost = prelude_cost.cost_by_annotator(project, annotator).get(annotator.name)
    if cost is None:
        return None
    curves = ((prelude_cost.CONDITIONED, cost.conditioned), (prelude_cost.UNCONDITIONED, cost.unconditioned))
    series = {
        label: [(float(n), y) for n, y in enumerate(curve.cumulative, start=1)]
        for label, curve in curves
        if curve.costs
    }
    chart = plots.lines(series, label="cumulative edit distance", fmt="{:.3g}") if series else None
    return {
        "chart": chart,
        "rows": [
            {
                "label": label,
                "edits": len(curve.costs),
                "total": curve.cumulative[-1] if curve.costs else 0,
                "mean": curve.mean,
            }
            for label, curve in curves
        ],
    }


@login_required
def preferences(request, project_id):
    project = project_for_annotator(request.user, project_id)
    template = "workers/latent_prefs.html" if request.headers.get("HX-Request") else "workers/latent_prefs_page.html"
    return render(request, template, prefs_context(request, project))


@login_required
@require_POST
def correct_pref(request, project_id, pref_id):
    project = project_for_annotator(request.user, project_id)
    annotator = _annotator(request.user)
    pref = get_object_or_404(LatentPreference, pk=pref_id, project=project)
    if annotator is None or pref.annotator_id != annotator.pk:
        raise Http404("not your preference")  # people correct only what was inferred about them
    status = 200
    try:
        latent_prefs.correct(pref, request.POST.get("text", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
        status = exc.status
    if request.headers.get("HX-Request"):
        return render(request, "workers/latent_prefs.html", prefs_context(request, project), status=status)
    return redirect("workers:latent_prefs", project_id=project.pk)


@login_required
@require_POST
def start_inference(request, project_id):
    project = project_for_manager(request.user, project_id)
    spec = get_object_or_404(ModelSpec.objects.for_project(project), pk=request.POST.get("model_spec") or 0)
    run = latent_prefs.start_inference_run(project, spec, user=request.user)
    return send_and_show(request, infer_preferences, run, "Preference inference")
