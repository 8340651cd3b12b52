"""A small JSON API for programmatic annotators: next / submit / skip / draft.

Session-authenticated (log in at /login/, send the csrftoken cookie back as X-CSRFToken).
Items are given in display order: "left"/"right" are what a person would see, and a submitted
preference refers to them, exactly as in the browser form.

Every answer is JSON, errors included: {"error": message, "errors": {field: message}} with 400
(bad input: bodies are parsed strictly, see annotate.strict_input), 401, 403, 404, 405 or 409.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from annotate import queue
from annotate.kinds import registry as kind_registry
from annotate.permissions import project_for_annotator
from annotate.strict_input import InputError, loads_object
from annotate.submit import LeaseLost, SubmissionConflict, SubmissionError, submit


class BadBody(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _body(request):
    try:
        return loads_object(request.body)
    except InputError as exc:
        raise BadBody(exc.message) from exc


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
    shown = kind_registry.get(item.kind).display_responses(item, assignment.swapped)
    if len(shown) == 1:
        out["response"] = {"text": shown[0].text}
    elif len(shown) == 2:
        out["left"], out["right"] = {"text": shown[0].text}, {"text": shown[1].text}
    else:  # a ranking: ranks are submitted as "ranks", one per response in this order
        out["responses"] = [{"text": r.text} for r in shown]
    return out


def _login_json(view):
    """Login required, and every refusal answered in JSON rather than as an HTML page."""
    wrapped = login_required(view)

    @wraps(view)
    def guard(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error("log in first", 401)
        try:
            response = wrapped(request, *args, **kwargs)
        except BadBody as exc:
            return _error(exc.message, 400)
        except Http404:
            return _error("not found (or not yours)", 404)
        except PermissionDenied as exc:
            return _error(str(exc) or "not allowed", 403)
        if response.status_code == 405:  # from require_POST / require_http_methods
            allowed = response.get("Allow", "POST")
            response = _error(f"method not allowed; use {allowed}", 405)
            response["Allow"] = allowed
        return response

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
    assignment = _own(request, assignment_id)
    if assignment is None:
        return _error("no such assignment", 404)
    try:
        annotation, created = submit(
            assignment, data, data.get("submission_id"), time_spent_ms=data.get("time_spent_ms")
        )
    except (SubmissionConflict, LeaseLost) as exc:
        return _error(exc.message, 409, exc.errors)
    except SubmissionError as exc:
        return _error(exc.message, 400, exc.errors)
    return JsonResponse({"annotation": annotation.pk, "created": created}, status=201 if created else 200)


@_login_json
@require_POST
def api_skip(request, assignment_id):
    data = _body(request)
    assignment = _own(request, assignment_id)
    if assignment is None:
        return _error("no such assignment", 404)
    try:
        queue.skip(assignment, data.get("reason"))
    except queue.QueueError as exc:
        return _error(str(exc), 400)
    return JsonResponse({"skipped": assignment.pk})


@_login_json
@require_POST
def api_draft(request, assignment_id):
    """Keep a half-done label (the body: the fields a submit would take); renews a live lease."""
    data = _body(request)
    assignment = _own(request, assignment_id)
    if assignment is None:
        return _error("no such assignment", 404)
    try:
        queue.save_draft(assignment, data)
    except queue.BadDraft as exc:
        return _error(str(exc), 400)
    except queue.QueueError as exc:
        return _error(str(exc), 409)
    return JsonResponse({"draft": assignment.pk, "leased_until": assignment.leased_until.isoformat()})
