"""A small JSON API for programmatic annotators: next / submit / skip / draft.

Session-authenticated (log in at /login/, send the csrftoken cookie back as X-CSRFToken).
Items are given in display order: "left"/"right" are what a person would see, and a submitted
preference refers to them, exactly as in the browser form.
"""
import json

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from . import queue
from .models import FeedbackKind
from .permissions import project_for_annotator
from .submit import LeaseLost, SubmissionConflict, SubmissionError, submit


def _body(request):
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error(message, status, errors=None):
    return JsonResponse({"error": message, "errors": errors or {}}, status=status)


def assignment_json(assignment):
    item = assignment.item
    prompt = item.prompt
    out = {
        "assignment": assignment.pk,
        "item": item.pk,
        "kind": item.kind,
        "leased_until": assignment.leased_until.isoformat(),
        "prompt": {"text": prompt.text, "messages": prompt.messages},
        "draft": assignment.draft,
    }
    if item.kind == FeedbackKind.PAIRWISE:
        left, right = (item.response_b, item.response_a) if assignment.swapped else (item.response_a, item.response_b)
        out["left"], out["right"] = {"text": left.text}, {"text": right.text}
    else:
        out["response"] = {"text": item.response_a.text}
    return out


def _login_json(view):
    wrapped = login_required(view)

    def guard(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error("log in first", 401)
        return wrapped(request, *args, **kwargs)

    return guard


@_login_json
@require_http_methods(["GET", "POST"])
def api_next(request, project_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    assignment = queue.next_assignment(project, annotator)
    if assignment is None:
        return JsonResponse({"done": True, "assignment": None})
    return JsonResponse(assignment_json(assignment))


def _own(request, assignment_id):
    # Membership may have been revoked since the lease was handed out: checked in the same query.
    return queue.assignment_for(queue.request_annotator(request), assignment_id, user=request.user)


@_login_json
@require_POST
def api_submit(request, assignment_id):
    data = _body(request)
    if data is None:
        return _error("the body must be a JSON object", 400)
    assignment = _own(request, assignment_id)
    if assignment is None:
        return _error("no such assignment", 404)
    try:
        annotation, created = submit(assignment, data, data.get("submission_id"), time_spent_ms=data.get("time_spent_ms"))
    except (SubmissionConflict, LeaseLost) as exc:
        return _error(exc.message, 409, exc.errors)
    except SubmissionError as exc:
        return _error(exc.message, 400, exc.errors)
    return JsonResponse({"annotation": annotation.pk, "created": created}, status=201 if created else 200)


@_login_json
@require_POST
def api_skip(request, assignment_id):
    data = _body(request)
    if data is None:
        return _error("the body must be a JSON object", 400)
    assignment = _own(request, assignment_id)
    if assignment is None:
        return _error("no such assignment", 404)
    try:
        queue.skip(assignment, data.get("reason"))
    except queue.QueueError as exc:
        return _error(str(exc), 400)
    return JsonResponse({"skipped": assignment.pk})
