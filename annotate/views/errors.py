"""The one place a refused service request (annotate.errors.ServiceError) becomes a response.

Pages: `ServiceErrorMiddleware` answers with the message and the error's status (400 or 409): a
plain-text body for HTMX and script requests, which show it where the request was made, and a page
otherwise. The REST API: `exception_handler` (settings.REST_FRAMEWORK) answers in JSON. Views that
re-render a form with the message beside its fields still catch the error themselves; nothing else
catches it.

The annotation API's errors keep the shape its clients know: {"error": message, "errors": {field:
message}}, with 401 (not 403) for a request without a session. The export API keeps DRF's
{"detail": message}, to which a ServiceError adds the same two keys.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotate.errors import ServiceError


def error_body(message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": message, "errors": errors or {}}


class ServiceErrorMiddleware:
    """A ServiceError escaping a page view: its message, with its status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceError):
            return None
        if request.headers.get("HX-Request") or "text/html" not in request.headers.get("Accept", "text/html"):
            return HttpResponse(exception.message, status=exception.status, content_type="text/plain; charset=utf-8")
        return render(
            request,
            "service_error.html",
            {"message": exception.message, "errors": exception.errors},
            status=exception.status,
        )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: ServiceError → its status and message; the annotation API's shape."""
    if isinstance(exc, ServiceError):
        body = {**error_body(exc.message, exc.errors), "detail": exc.message}
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    view = context.get("view")
    if response is None or not getattr(view, "errors_as_error_key", False):
        return response
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response.data = error_body("log in first")
    elif isinstance(exc, exceptions.NotFound):
        response.data = error_body("not found (or not yours)")
    elif isinstance(exc, exceptions.MethodNotAllowed) and view is not None:
        response.data = error_body(f"method not allowed; use {', '.join(view.allowed_methods)}")
    elif isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = (
            {k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in detail.items()}
            if isinstance(detail, dict)
            else {}
        )
        response.data = error_body("; ".join(fields.values()) or " ".join(map(str, detail)), fields)
    else:
        response.data = error_body(str(getattr(exc, "detail", exc)))
    return response
