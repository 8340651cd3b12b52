"""Manager pages: the judge-bias audit and the project's preference groups."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.errors import ServiceError
from annotate.models import Item
from annotate.permissions import project_for_manager
from curation import bias, bias_store, error_tags, plots, pluralism
from workers.models import RunKind, RunState, TaskRun
from workers.tasks.bias import start_bias_audit
from workers.tasks.error_tags import start_error_tagging
from workers.tasks.pluralism import start_group_run
from workers.views.common import tell_outcome


@login_required
@require_GET
def bias_page(request, project_id):
    """The last stored audit and the recompute run's state; computes nothing (a worker does)."""
    project = project_for_manager(request.user, project_id)
    stored = bias_store.latest(project)
    context: dict[str, Any] = {
        "project": project,
        "stored": stored,
        "families": bias.FAMILY_PREFIXES,
        "min_labels": bias.MIN_LABELS,
        "tagger": error_tags.tagger_for(project),
        "tag_task": TaskRun.objects.filter(project=project, kind=RunKind.ERROR_TAGS).first(),
        "audit_task": TaskRun.objects.filter(project=project, kind=RunKind.BIAS_AUDIT).first(),
    }
    if stored:
        result = stored.audit
        context.update(
            audit=result,
            charts={
                p: plots.coefficient_bars(
                    [(r.name, r.properties.get(p)) for r in result.rows], label=f"{p} coefficient"
                )
                for p in result.properties
            },
            length_chart=plots.coefficient_bars([(r.name, r.length) for r in result.rows], label="length coefficient"),
        )
    return render(request, "curation/bias.html", context)


@login_required
@require_GET
def bias_status(request, project_id):
    """The recompute run's state, polled while it runs; once it has finished (and was running when
    the page last polled) the page reloads to show the new audit."""
    project = project_for_manager(request.user, project_id)
    task = TaskRun.objects.filter(project=project, kind=RunKind.BIAS_AUDIT).first()
    response = render(request, "curation/bias_status.html", {"project": project, "audit_task": task})
    if task and task.finished and request.GET.get("was_active") and task.state == RunState.SUCCEEDED:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def run_bias_audit(request, project_id):
    """Queue a recompute of the audit (a worker run; the page shows its progress)."""
    project = project_for_manager(request.user, project_id)
    run = start_bias_audit(project, user=request.user)
    tell_outcome(request, run, "Judge-bias audit")  # its real state: in-process it has already run
    return redirect("curation:bias", project.pk)


@login_required
@require_POST
def run_error_tags(request, project_id):
    """Queue the LM error tagger (a worker task; the page shows "not computed" until it ran)."""
    project = project_for_manager(request.user, project_id)
    try:
        run = start_error_tagging(project, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Error tagging queued (run {run.pk}).")
    return redirect("curation:bias", project.pk)


@dataclass
class GroupView:
    number: int
    share: float
    members: list


@login_required
@require_GET
def groups_page(request, project_id):
    project = project_for_manager(request.user, project_id)
    run = pluralism.latest_run(project)
    task = TaskRun.objects.filter(project=project, kind=RunKind.GROUPS).first()
    context: dict[str, Any] = {"project": project, "run": run, "task": task}
    if run:
        groups = [GroupView(g + 1, p, []) for g, p in enumerate(run.details.get("pi", [1.0] * run.k))]
        for a in run.annotators:
            groups[max(range(run.k), key=lambda g: a["weights"][g])].members.append(a)
        top = run.details.get("top_disagreements", [])
        items = {i.pk: i for i in Item.objects.filter(pk__in=top).select_related("prompt")}
        context.update(
            groups=groups,
            heldout=sorted((int(k), v) for k, v in run.heldout.items()),
            plot=plots.simplex_scatter([(a["name"], a["weights"]) for a in run.annotators], run.k),
            disagreements=[
                (items[i], run.item_probs.get(str(i), []), run.details.get("router_weights", {}).get(str(i), []))
                for i in top
                if i in items
            ],
            controversial=Item.objects.filter(pk__in=run.controversial[:50]).select_related("prompt"),
        )
    return render(request, "curation/groups.html", context)


@login_required
@require_POST
def run_groups(request, project_id):
    project = project_for_manager(request.user, project_id)
    run = start_group_run(project, user=request.user)
    messages.success(request, f"Preference groups queued (run {run.pk}).")
    return redirect("curation:groups", project.pk)
