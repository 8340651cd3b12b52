"""The curation dashboard for managers: agreement, annotator quality, noise, actions, snapshots,
export tokens. Views are thin: the numbers come from curation services."""

from collections import Counter
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Annotation, FeedbackKind
from annotate.permissions import project_for_manager
from annotate.queue import overlap_progress
from curation import actions, dashboard_figures, dedupe, pluralism
from curation.authentication import token_refusal
from curation.formats import FORMATS
from curation.forms import DedupeForm, FilterForm, FreezeForm, NoiseActionForm, NoiseRunForm, TokenForm
from curation.models import CurationAction, ExportToken, Snapshot
from curation.snapshots import EmptySnapshotError, compare, freeze_snapshot, manifest, sample_rows
from workers.models import RunKind, TaskRun
from workers.tasks.dashboard import request_refresh
from workers.tasks.dedupe import current_groups, latest_search, start_dedupe_search
from workers.tasks.noise import start_noise_run
from workers.views.common import tell_outcome


def _figure_context(request, project):
    """The cached figures as the page shows them: never computed here (see curation.dashboard_figures)."""

    fig = dashboard_figures.state(project)
    return {
        **(fig.cached.figures if fig.cached else {}),
        "fig": fig,
        "project": project,
        "noise_task": TaskRun.objects.filter(project=project, kind=RunKind.NOISE).first(),
        "noise_run_form": NoiseRunForm(),
        "snapshots": Snapshot.objects.filter(project=project).select_related("created_by").order_by("-version")[:20],
    }


def _context(request, project, filter_form=None, **extra):
    labels = dict(
        Annotation.objects.filter(item__project=project).values_list("annotator__kind").annotate(n=Count("id"))
    )
    return {
        **_figure_context(request, project),
        "labels": labels,
        "items": project.items.count(),
        "overlap": overlap_progress(project),
        "filter_form": filter_form or FilterForm(),
        "freeze_form": FreezeForm(groups=_group_choices(project)),
        "noise_form": NoiseActionForm(),
        "dedupe_form": DedupeForm(),
        "token_form": TokenForm(),
        "actions": CurationAction.objects.filter(project=project).select_related("user", "undone_by")[:15],
        "tokens": _tokens(project),
        **extra,
    }


@dataclass(frozen=True)
class TokenRow:
    """One export token as the dashboard lists it: why it no longer works ("" while it does)."""

    token: ExportToken
    refusal: str


def _tokens(project) -> list[TokenRow]:
    """The project's tokens, newest first, each with its refusal."""
    now = timezone.now()
    return [
        TokenRow(token, token_refusal(token, now) or "")
        for token in ExportToken.objects.filter(project=project)
        .select_related("created_by", "project")
        .order_by("-created_at")
    ]


@login_required
@require_GET
def dashboard(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = FilterForm(request.GET) if any(k in request.GET for k in FilterForm.base_fields) else None
    return render(request, "curation/dashboard.html", _context(request, project, filter_form=form))


@login_required
@require_GET
def figures(request, project_id):
    """HTMX: the cached figures, asking for a refresh when they are missing or stale. The page
    polls this until they are fresh. Without a broker the refresh runs in this request, never in
    the page's."""
    project = project_for_manager(request.user, project_id)
    if not dashboard_figures.state(project).fresh:
        request_refresh(project)
    return render(request, "curation/dashboard_figures.html", {**_figure_context(request, project), "polled": True})


def _dashboard_url(project, data):
    """The dashboard with the filters that were in `data` kept (so an action does not reset the view)."""
    from urllib.parse import urlencode

    kept = [(k, v) for k in FilterForm.base_fields for v in data.getlist(k) if v not in ("", None)]
    url = reverse("curation:dashboard", args=[project.pk])
    return f"{url}?{urlencode(kept)}" if kept else url


def _group_choices(project):
    run = pluralism.latest_run(project)
    return [(g, len(pluralism.group_members(run, g))) for g in range(run.k)] if run else []


def _filters_from(data):
    form = FilterForm(data)
    if not form.is_valid():
        return form, None
    try:
        return form, form.to_filters()
    except actions.CurationError as exc:
        form.add_error(None, str(exc))
        return form, None


@login_required
@require_GET
def preview(request, project_id):
    """HTMX: how many items and rows the filters keep (and how many a noise action would touch)."""
    project = project_for_manager(request.user, project_id)
    form, filters = _filters_from(request.GET)
    if filters is None:
        return render(request, "curation/dashboard_preview.html", {"errors": form.errors})
    view = actions.curated_view(project, filters)
    kinds = Counter(c.kind for c in view)
    decisive = sum(1 for c in view if c.kind != FeedbackKind.EDIT and c.direction)
    threshold: float | None
    try:
        threshold = forms.FloatField(min_value=0, max_value=1, required=False).clean(request.GET.get("threshold"))
    except forms.ValidationError:
        threshold = None
    affected = digest = None
    if threshold is not None:
        selected = [c.item_id for c in view if actions.is_noisy(c, threshold)]
        affected, digest = len(selected), actions.selection_digest(selected)
    return render(
        request,
        "curation/dashboard_preview.html",
        {
            "count": len(view),
            "kinds": dict(kinds),
            "decisive": decisive,
            "affected": affected,
            "digest": digest,
            "records_url": f"{reverse('curation:records', args=[project.pk])}?{request.GET.urlencode()}",
        },
    )


@login_required
@require_POST
def noise_action(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = NoiseActionForm(request.POST)
    _, filters = _filters_from(request.POST)
    if form.is_valid() and filters is not None:
        try:
            act = actions.act_on_noisy(
                project,
                request.user,
                form.cleaned_data["action"],
                form.cleaned_data["threshold"],
                filters,
                expected=form.cleaned_data["expected"],
            )
            messages.success(
                request, f"{act.action}: {act.params['affected']} items above p = {form.cleaned_data['threshold']:.2f}"
            )
        except actions.CurationError as exc:
            messages.error(request, f"Not applied: {exc}")
    else:
        messages.error(request, f"Not applied: {form.errors.as_text() or 'check the filters'}")
    url = _dashboard_url(project, request.POST)
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


def _dedupe_url(project, mode, threshold):
    from urllib.parse import urlencode

    return (
        f"{reverse('curation:dedupe_preview', args=[project.pk])}?{urlencode({'mode': mode, 'threshold': threshold})}"
    )


@login_required
@require_POST
def dedupe_search(request, project_id):
    """Start the near-duplicate search in the background; its preview page follows it."""

    project = project_for_manager(request.user, project_id)
    form = DedupeForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not searched: {form.errors.as_text()}")
        return redirect("curation:dashboard", project.pk)
    start_dedupe_search(project, form.cleaned_data["threshold"], user=request.user)
    return redirect(_dedupe_url(project, form.cleaned_data["mode"], form.cleaned_data["threshold"]))


@login_required
@require_GET
def dedupe_preview(request, project_id):
    """The latest search's groups (while the prompts are unchanged) and a form to confirm exactly
    those; while the search runs, its progress (the page polls itself)."""

    project = project_for_manager(request.user, project_id)
    form = DedupeForm(request.GET)
    if not form.is_valid():
        messages.error(request, f"Not previewed: {form.errors.as_text()}")
        return redirect("curation:dashboard", project.pk)
    mode, threshold = form.cleaned_data["mode"], form.cleaned_data["threshold"]
    run = latest_search(project, threshold)
    found = current_groups(project, run)
    context = {
        "project": project,
        "run": run,
        "mode": mode,
        "threshold": threshold,
        "search_form": DedupeForm(initial={"mode": mode, "threshold": threshold}),
        "searching": run is not None and not run.finished,
        "stale": run is not None and run.finished and found is None,
    }
    if found is not None:
        found_preview = dedupe.preview(project, threshold, groups=found)
        context.update(
            groups=found_preview.shown,
            total=found_preview.total,
            affected=sum(len(g) - 1 for g in found),
            form=DedupeForm(
                initial={"mode": mode, "threshold": threshold, "expected": found_preview.digest, "run": run.pk}
            ),
        )
    template = (
        "curation/dedupe_preview_body.html" if request.headers.get("HX-Request") else "curation/dedupe_preview.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def dedupe_action(request, project_id):
    """Apply exactly the groups a finished search showed; refused when the prompts changed since."""

    project = project_for_manager(request.user, project_id)
    form = DedupeForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not applied: {form.errors.as_text()}")
        return redirect("curation:dashboard", project.pk)
    run = TaskRun.objects.filter(project=project, kind=RunKind.DEDUPE, pk=form.cleaned_data["run"] or 0).first()
    groups = current_groups(project, run)
    if groups is None:
        messages.error(
            request,
            "Not applied: search for duplicates first (prompts changed since the search, or it has not finished).",
        )
    elif dedupe.groups_digest(groups) != form.cleaned_data["expected"]:
        messages.error(request, "Not applied: these are not the groups the preview showed; preview again.")
    else:
        act = dedupe.apply_groups(
            project, request.user, form.cleaned_data["mode"], form.cleaned_data["threshold"], groups
        )
        messages.success(
            request,
            f"{act.action}: {len(act.params['groups'])} groups, {act.params['affected']} items (undo below)"
            if act
            else "No near-duplicate prompts at that threshold.",
        )
    return redirect("curation:dashboard", project.pk)


@login_required
@require_POST
def undo_action(request, project_id, action_id):
    project = project_for_manager(request.user, project_id)
    try:
        act = actions.undo(project, request.user, action_id)
        messages.success(
            request, f"Undone #{act.undo_of_id} ({act.params['reverts']} of {act.params['affected']} items)."
        )
    except actions.CurationError as exc:
        messages.error(request, str(exc))
    return redirect("curation:dashboard", project.pk)


@login_required
@require_POST
def run_noise(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = NoiseRunForm(request.POST or {"aggregator": "dawid-skene"})  # a bare POST keeps the default
    if not form.is_valid():
        messages.error(request, f"Noise estimation not started: {form.errors.as_text()}")
        return redirect("curation:dashboard", project.pk)
    run = start_noise_run(project, user=request.user, aggregator=form.cleaned_data["aggregator"])
    tell_outcome(request, run, "Noise estimation")  # the run's real state, not a "queued" it may have left
    return redirect("curation:dashboard", project.pk)


@login_required
@require_GET
def noise_status(request, project_id):
    """HTMX: the latest noise run's state, polling itself until it finishes."""

    project = project_for_manager(request.user, project_id)
    task = TaskRun.objects.filter(project=project, kind=RunKind.NOISE).first()
    return render(
        request,
        "curation/dashboard_noise_status.html",
        {"project": project, "noise_task": task, "just_finished": bool(task and task.finished)},
    )


@login_required
@require_POST
def freeze(request, project_id):
    project = project_for_manager(request.user, project_id)
    form, filters = _filters_from(request.POST)
    freeze_form = FreezeForm(request.POST, groups=_group_choices(project))
    if filters is None or not freeze_form.is_valid():
        messages.error(request, "Snapshot not frozen: " + (form.errors.as_text() or freeze_form.errors.as_text()))
        return render(request, "curation/dashboard.html", _context(request, project, filter_form=form), status=400)
    if freeze_form.cleaned_data["group"] is not None:
        filters = {**filters, "group": freeze_form.cleaned_data["group"]}
    try:
        snapshot = freeze_snapshot(
            project,
            request.user,
            filters,
            name=freeze_form.cleaned_data["name"],
            test_fraction=freeze_form.cleaned_data["test_fraction"],
        )
    except (EmptySnapshotError, actions.CurationError) as exc:
        messages.error(request, f"Snapshot not frozen. {exc}")
        return render(request, "curation/dashboard.html", _context(request, project, filter_form=form), status=400)
    messages.success(request, f"Froze {snapshot} with {snapshot.counts['rows']} rows.")
    return redirect("curation:snapshot", project.pk, snapshot.pk)


@login_required
@require_GET
def snapshot_detail(request, project_id, snapshot_id):
    project = project_for_manager(request.user, project_id)
    snapshot = get_object_or_404(
        Snapshot.objects.select_related("project", "created_by"), project=project, pk=snapshot_id
    )
    return render(
        request,
        "curation/snapshot_detail.html",
        {
            "project": project,
            "snapshot": snapshot,
            "manifest": manifest(snapshot),
            "formats": FORMATS,
            "sample": sample_rows(snapshot, n=5),
            "diff": compare(snapshot),
        },
    )


@login_required
@require_POST
def issue_token(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors.as_text())
        return redirect("curation:dashboard", project.pk)
    token, key = ExportToken.issue(
        project,
        form.cleaned_data["name"],
        created_by=request.user,
        expires_at=form.expires_at(),
        nonce=form.cleaned_data["nonce"],
    )
    if key is None:  # the same form again (a reloaded page): its key was shown once already
        messages.info(
            request,
            f"Token {token.name} ({token.prefix}…) was already issued by this form; its key is "
            "shown only once. Issue a new token if you did not copy it.",
        )
        return redirect(reverse("curation:dashboard", args=[project.pk]) + "#tokens")
    latest = Snapshot.objects.filter(project=project).order_by("-version").first()
    # The key is rendered once, never stored or put in the session; no-store keeps it out of caches.
    response = render(
        request,
        "curation/dashboard_token.html",
        {
            "project": project,
            "token": token,
            "key": key,
            "latest": latest,
            "base": request.build_absolute_uri("/")[:-1],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request, project_id, token_id):
    project = project_for_manager(request.user, project_id)
    ExportToken.objects.filter(project=project, pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, "Token revoked.")
    return redirect("curation:dashboard", project.pk)
