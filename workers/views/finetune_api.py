"""The fine-tune API (mounted at /api/, reversed as "runs_api:<name>"): start a fine-tune run with
any method and noise handling the fine-tune form offers, list a project's runs, follow one, cancel it.

For a project's managers and admins, session-authenticated like the annotation API (log in at
/login/, send the csrftoken cookie back as X-CSRFToken); export tokens are read-only and start
nothing. Bodies are JSON objects read strictly. The request is checked by the fine-tune form itself
(the project's snapshots and models, the TRL allow-list, the max_length check), so the page and the
API refuse the same things. Every refusal has the annotation API's shape, {"error": message,
"errors": {field: message}}. A POST with an `Idempotency-Key` header starts
at most one run per key (finetune.create_finetune_once). The run goes to the worker's queue; its
state, progress, row counts and evaluation are read back here or on its page.
"""

import json

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.errors import Invalid
from annotate.models import Project
from annotate.permissions import project_for_manager
from annotate.serializers import StrictJSONParser
from workers import finetune, runs
from workers.forms import FineTuneForm
from workers.models import FineTuneRun, ModelSpec
from workers.serializers import FineTuneRequestSerializer, FineTuneRunSerializer
from workers.tasks.finetune import finetune as finetune_task
from workers.tasks.runs import enqueue

FORM_FIELDS = {"model_spec": "model"}  # the form's field names that the API spells otherwise
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="at most one run per key: the same key again answers 200 with the run it started",
)


def project_finetunes(project: Project):
    return FineTuneRun.objects.filter(run__project=project).select_related(
        "run", "snapshot", "model_spec", "result_spec"
    )


def validated_request(project: Project, data: dict) -> dict:
    """The API request → the fine-tune form's cleaned data, or Invalid with the form's messages."""
    spec = ModelSpec.objects.for_project(project).filter(name=data["model"]).first()
    if spec is None:
        message = f"no model named {data['model']!r} is registered for this project"
        raise Invalid(message, errors={"model": message})
    form = FineTuneForm(
        project,
        {
            "snapshot": data["snapshot"],
            "model_spec": spec.pk,
            "method": data["method"],
            "config": json.dumps(data["config"]),
            "lora": json.dumps(data["lora"]) if data["lora"] else "",
            "noise_weighting": data["noise_weighting"],
            "noise_threshold": data["noise_threshold"],
            "start_anyway": data["start_anyway"],
        },
    )
    if not form.is_valid():
        errors = {FORM_FIELDS.get(k, k): " ".join(str(m) for m in v) for k, v in form.errors.items()}
        raise Invalid(
            "; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in errors.items()),
            errors={k: v for k, v in errors.items() if k != "__all__"},
        )
    return form.cleaned_data


class FineTuneAPIView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]
    errors_as_error_key = True  # annotate.views.errors: {"error", "errors"} for every refusal, 401 without a session


@extend_schema(tags=["fine-tune"])
class FineTuneList(FineTuneAPIView):
    """A project's fine-tune runs (newest first), and starting one."""

    @extend_schema(responses={200: FineTuneRunSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        found = project_finetunes(project).order_by("-run__created_at")[:100]
        return Response(FineTuneRunSerializer(found, many=True).data)

    @extend_schema(
        request=FineTuneRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: FineTuneRunSerializer,
            200: OpenApiResponse(FineTuneRunSerializer, description="the run this Idempotency-Key started"),
            400: OpenApiResponse(description="refused: the message and the fields say why"),
            409: OpenApiResponse(description="the Idempotency-Key was used for another request"),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        body = FineTuneRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = validated_request(project, body.validated_data)
        asked = {
            "snapshot": d["snapshot"],
            "model_spec": d["model_spec"],
            "method": d["method"],
            "config": d["config"],
            "lora": d["lora"],
            "noise_weighting": d["noise_weighting"],
            "noise_threshold": d["noise_threshold"],
            "user": request.user,
        }
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > 200:
            raise Invalid("Idempotency-Key is longer than 200 characters")
        if key:
            ft, created = finetune.create_finetune_once(key, **asked)
        else:
            ft, created = finetune.create_finetune(**asked), True
        if created:
            enqueue(finetune_task, ft.run)
        ft = project_finetunes(project).get(pk=ft.pk)  # as the queue (or an eager worker) left it
        location = reverse("runs_api:finetune", kwargs={"project_id": project.pk, "run_id": ft.run_id})
        return Response(
            FineTuneRunSerializer(ft).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


@extend_schema(tags=["fine-tune"])
class FineTuneDetail(FineTuneAPIView):
    """One fine-tune run of the project, by its run id (as on its page, /p/<id>/runs/<run>/)."""

    @extend_schema(responses={200: FineTuneRunSerializer})
    def get(self, request: Request, project_id: int, run_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        return Response(FineTuneRunSerializer(finetune_of(project, run_id)).data)


@extend_schema(tags=["fine-tune"])
class FineTuneCancel(FineTuneAPIView):
    """Ask a fine-tune run to stop (the worker stops at its next step); a finished run is unchanged."""

    @extend_schema(request=None, responses={200: FineTuneRunSerializer})
    def post(self, request: Request, project_id: int, run_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        ft = finetune_of(project, run_id)
        if not ft.run.finished:
            runs.request_cancel(ft.run)
            ft = finetune_of(project, run_id)
        return Response(FineTuneRunSerializer(ft).data)


def finetune_of(project: Project, run_id: int) -> FineTuneRun:
    return get_object_or_404(project_finetunes(project), run_id=run_id)
