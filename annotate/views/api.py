"""The annotation API for programmatic annotators: next / submit / skip / draft, on DRF.

Session-authenticated (log in at /login/, send the csrftoken cookie back as X-CSRFToken); bodies
are JSON objects read strictly (annotate.serializers.StrictJSONParser). Every answer is JSON,
errors included: {"error": message, "errors": {field: message}} with 400 (bad input), 401, 403,
404, 405 or 409 (a lease lost, a submission id reused): annotate.views.errors turns refusals into
these, so the views below only call the services.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate import queue
from annotate.models import Assignment
from annotate.permissions import project_for_annotator
from annotate.serializers import (
    AssignmentSerializer,
    DoneSerializer,
    DraftResponseSerializer,
    SkipRequestSerializer,
    SkipResponseSerializer,
    StrictJSONParser,
    SubmitRequestSerializer,
    SubmitResponseSerializer,
    request_body,
)
from annotate.submit import submit

ERROR = inline_serializer(
    "Error", {"error": serializers.CharField(), "errors": serializers.DictField(child=serializers.CharField())}
)
ERRORS = {
    code: OpenApiResponse(ERROR, description=text)
    for code, text in {
        400: "the body or the label is refused (the message says why)",
        401: "not logged in",
        404: "no such project or assignment (or not yours)",
        409: "the lease was lost, or the submission id was used for another label",
    }.items()
}


class AnnotateAPIView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]
    errors_as_error_key = True  # annotate.views.errors: {"error", "errors"}, 401 when not logged in

    def assignment(self, request: Request, assignment_id: int) -> Assignment:
        """The caller's own leased assignment. Membership may have been revoked since the lease was
        handed out: that is checked in the same query."""
        assignment = queue.assignment_for(queue.request_annotator(request), assignment_id, user=request.user)
        if assignment is None:
            raise Http404("no such assignment")
        return assignment


ASSIGNMENT_OR_DONE = PolymorphicProxySerializer(
    component_name="NextAssignment", serializers=[AssignmentSerializer, DoneSerializer], resource_type_field_name=None
)


@extend_schema(tags=["annotate"])
class NextItem(AnnotateAPIView):
    """Lease the next item of the project to the caller (or give back the one already leased)."""

    @extend_schema(request=None, responses={200: ASSIGNMENT_OR_DONE, **ERRORS})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_annotator(request.user, project_id)
        assignment = queue.next_assignment(project, queue.request_annotator(request))
        if assignment is None:
            return Response(DoneSerializer({"done": True, "assignment": None}).data)
        return Response(AssignmentSerializer(assignment).data)

    @extend_schema(request=None, responses={200: ASSIGNMENT_OR_DONE, **ERRORS})
    def get(self, request: Request, project_id: int) -> Response:
        return self.post(request, project_id)


@extend_schema(tags=["annotate"])
class Submit(AnnotateAPIView):
    """Store the label of a leased item; idempotent by submission_id."""

    @extend_schema(
        request=SubmitRequestSerializer,
        responses={201: SubmitResponseSerializer, 200: SubmitResponseSerializer, **ERRORS},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = self.assignment(request, assignment_id)
        data = request_body(request)
        annotation, created = submit(
            assignment, data, data.get("submission_id"), time_spent_ms=data.get("time_spent_ms")
        )
        body = SubmitResponseSerializer({"annotation": annotation.pk, "created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(tags=["annotate"])
class Skip(AnnotateAPIView):
    """Give a leased item back, saying why; it is not offered to the caller again."""

    @extend_schema(request=SkipRequestSerializer, responses={200: SkipResponseSerializer, **ERRORS})
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = self.assignment(request, assignment_id)
        queue.skip(assignment, request_body(request).get("reason"))
        return Response(SkipResponseSerializer({"skipped": assignment.pk}).data)


@extend_schema(tags=["annotate"])
class Draft(AnnotateAPIView):
    """Keep a half-done label (the body: the fields a submit would take); renews a live lease."""

    @extend_schema(request=SubmitRequestSerializer(partial=True), responses={200: DraftResponseSerializer, **ERRORS})
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = self.assignment(request, assignment_id)
        queue.save_draft(assignment, request_body(request))
        return Response(
            DraftResponseSerializer({"draft": assignment.pk, "leased_until": assignment.leased_until.isoformat()}).data
        )
