"""The annotator's workspace: one page, the item form swapped in by HTMX after each submit/skip."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from annotate import gold, queue
from annotate.guidelines import kind_guidance
from annotate.kinds import registry as kind_registry
from annotate.permissions import can_manage, project_for_annotator
from annotate.recent import form_values, recent_labels
from annotate.submit import AmendRefused, LeaseLost, SubmissionError, amend, can_amend, data_from_form, submit

SKIP_REASONS = [
    "Outside my expertise",
    "Prompt is unclear",
    "Offensive or unsafe content",
    "Broken item (empty or garbled)",
]


def _context(request, project, annotator, assignment, errors=None, values=None, submission_id=None):
    ctx = {
        "project": project,
        "assignment": assignment,
        "progress": queue.progress(project, annotator),
        "errors": errors or {},
        "skip_reasons": SKIP_REASONS,
        # the shortcuts overlay: each of the project's kinds says its own keys (FeedbackKindSpec.keys)
        "shortcut_kinds": [kind_registry.get(k) for k in queue.collected_kinds(project)],
    }
    if assignment is None:
        return ctx
    item = assignment.item
    spec = kind_registry.get(item.kind)
    responses = spec.display_responses(item, assignment.swapped)
    # Values to show: what was just posted (an error), else the saved draft.
    values = values if values is not None else dict(assignment.draft or {})
    ctx.update(
        item=item,
        spec=spec,
        responses=responses,
        left=responses[0],
        right=responses[1] if len(responses) > 1 else None,
        values=values,
        submission_id=_valid_id(submission_id) or _valid_id(values.get("submission_id")) or uuid.uuid4(),
        conversation=(item.prompt.messages or [])[:-1]
        if item.prompt.messages and len(item.prompt.messages) > 1
        else [],
        **spec.form_context(item, project, assignment.swapped, values),
    )
    return ctx


def _valid_id(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _fragment(request, ctx, template="annotate/_work.html"):
    ctx["oob"] = True  # the progress bars outside #work are refreshed out of band
    return render(request, template, ctx)


@login_required
@require_GET
def workspace(request, project_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    assignment = queue.next_assignment(project, annotator)
    ctx = _context(request, project, annotator, assignment)
    ctx["is_manager"] = can_manage(request.user, project)
    ctx["kind_guidance"] = kind_guidance(project)
    return render(request, "annotate/workspace.html", ctx)


@login_required
@require_GET
def next_item(request, project_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    return _fragment(request, _next_context(request, project, annotator))


def _own(request, project_id, assignment_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    assignment = queue.assignment_for(annotator, assignment_id)
    if assignment is None or assignment.item.project_id != project.pk:
        raise Http404("no such assignment")
    return project, annotator, assignment


def _form_values(item, post):
    values = {k: v for k, v in post.items() if k not in ("csrfmiddlewaretoken",)}
    values["failed_principles"] = post.getlist("failed_principles")
    return values


def _next_context(request, project, annotator, notice=None):
    """The next item's context, with a notice on what became of the last one."""
    ctx = _context(request, project, annotator, queue.next_assignment(project, annotator))
    if notice:
        ctx["notice"] = notice
    return ctx


def _refused_context(request, project, annotator, assignment, exc, **context):
    """The same item again, with what was posted and why it was refused."""
    return _context(
        request,
        project,
        annotator,
        assignment,
        errors=exc.errors or {"form": exc.message},
        values=_form_values(assignment.item, request.POST),
        **context,
    )


@login_required
@require_POST
def submit_item(request, project_id, assignment_id):
    project, annotator, assignment = _own(request, project_id, assignment_id)
    item = assignment.item
    try:
        annotation, _ = submit(
            assignment,
            data_from_form(item, request.POST),
            request.POST.get("submission_id"),
            time_spent_ms=request.POST.get("time_spent_ms"),
        )
    except SubmissionError as exc:
        if assignment.state != "leased" or isinstance(exc, LeaseLost):  # nothing to fix here: move on, saying why
            return _fragment(request, _next_context(request, project, annotator, exc.message))
        ctx = _refused_context(
            request, project, annotator, assignment, exc, submission_id=request.POST.get("submission_id")
        )
        ctx["error"] = exc.message
        return _fragment(request, ctx)
    result_template = kind_registry.get(item.kind).result_template
    if result_template:
        # The annotator sees what their label did (an edit: what it changed) before moving on.
        ctx = _context(request, project, annotator, None)
        ctx.update(done_item=item, annotation=annotation)
        return _fragment(request, ctx, result_template)
    ctx = _next_context(request, project, annotator)
    if project.gold_feedback:  # read from the label just stored: no extra query
        ctx["gold_feedback"] = gold.feedback(item, annotation, assignment.swapped)
    return _fragment(request, ctx)


@login_required
@require_POST
def skip_item(request, project_id, assignment_id):
    project, annotator, assignment = _own(request, project_id, assignment_id)
    try:
        queue.skip(assignment, request.POST.get("reason", ""))
    except queue.QueueError as exc:
        ctx = _context(request, project, annotator, assignment, values=_form_values(assignment.item, request.POST))
        ctx["error"] = str(exc)
        return _fragment(request, ctx)
    return _fragment(request, _next_context(request, project, annotator))


@login_required
@require_POST
def save_draft(request, project_id, assignment_id):
    _, _, assignment = _own(request, project_id, assignment_id)
    queue.save_draft(assignment, _form_values(assignment.item, request.POST))  # refused: ServiceErrorMiddleware
    return HttpResponse(status=204)


@login_required
@require_GET
def recent_items(request, project_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    return render(request, "annotate/_recent.html", {"project": project, "recent": recent_labels(project, annotator)})


@login_required
def amend_item(request, project_id, assignment_id):
    """Reopen one of the annotator's own submitted labels and change it, while its lease holds."""
    project, annotator, assignment = _own(request, project_id, assignment_id)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if not can_amend(assignment):
        notice = f"Item #{assignment.item_id}: the lease has ended, so your label can no longer be changed."
        return _fragment(request, _next_context(request, project, annotator, notice))
    if request.method == "GET":
        ctx = _context(
            request, project, annotator, assignment, values=form_values(assignment.annotation, assignment.swapped)
        )
        ctx["amending"] = True
        return _fragment(request, ctx)
    item = assignment.item
    try:
        amend(assignment, data_from_form(item, request.POST))
    except AmendRefused as exc:
        return _fragment(request, _next_context(request, project, annotator, exc.message))
    except SubmissionError as exc:
        ctx = _refused_context(request, project, annotator, assignment, exc)
        ctx.update(error=exc.message, amending=True)
        return _fragment(request, ctx)
    return _fragment(request, _next_context(request, project, annotator, f"Your label on item #{item.pk} was changed."))
