"""REST export for training jobs: projects, snapshots, manifests, rows as JSONL or Parquet.

Who may read: a project's managers and admins (session), or an export token scoped to one
project (`Authorization: Token <key>`, read-only). Anything outside that scope is a 404, so a
token cannot even learn which other projects exist. Annotators cannot export.
"""

import tempfile

from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from annotate.permissions import managed_projects, visible_projects
from curation.authentication import ExportTokenAuthentication
from curation.formats import FILE_TYPES, FORMATS, UnknownFormat, can_copy, export_format, jsonl_chunks
from curation.models import ExportToken, Snapshot, Split
from curation.serializers import ManifestSerializer, ProjectSerializer, SnapshotSerializer
from workers.finetune_data import chat_template_renderer
from workers.models import ModelSpec


class ReadOnlyExport(permissions.BasePermission):
    """Authenticated, and only reads."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.method in permissions.SAFE_METHODS)


def exportable_projects(request):
    if isinstance(request.auth, ExportToken):
        return Project.objects.filter(pk=request.auth.project_id)
    return managed_projects(request.user)


def project_for_export(request, project_id):
    """The project, 404 when out of scope, 403 for a member who may not export (an annotator)."""
    project = exportable_projects(request).filter(pk=project_id).first()
    if project is None:
        if not isinstance(request.auth, ExportToken) and visible_projects(request.user).filter(pk=project_id).exists():
            raise PermissionDenied("only the project's managers, admins and its export tokens may export")
        raise Http404
    return project


def snapshot_for_export(request, snapshot_id):
    snapshot = get_object_or_404(Snapshot.objects.select_related("project", "created_by"), pk=snapshot_id)
    project_for_export(request, snapshot.project_id)
    return snapshot


def project_snapshots(project):
    """A project's snapshots, newest first."""
    return Snapshot.objects.filter(project=project).select_related("project").order_by("-version")


class ExportView(APIView):
    """Who may read (see the module docstring); every export endpoint derives from it."""

    authentication_classes = [ExportTokenAuthentication, SessionAuthentication]
    permission_classes = [ReadOnlyExport]


class ProjectList(ExportView, generics.ListAPIView):
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return (
            exportable_projects(self.request).annotate(latest_snapshot_version=Max("snapshots__version")).order_by("id")
        )


class ProjectDetail(ExportView, generics.RetrieveAPIView):
    serializer_class = ProjectSerializer

    def get_object(self):
        return project_for_export(self.request, self.kwargs["pk"])


class SnapshotList(ExportView, generics.ListAPIView):
    serializer_class = SnapshotSerializer

    def get_queryset(self):
        return project_snapshots(project_for_export(self.request, self.kwargs["pk"]))


class SnapshotDetail(ExportView, generics.RetrieveAPIView):
    serializer_class = SnapshotSerializer

    def get_object(self):
        return snapshot_for_export(self.request, self.kwargs["pk"])


class LatestSnapshot(ExportView, generics.RetrieveAPIView):
    """The project's newest snapshot (what a scheduled training job usually wants)."""

    serializer_class = SnapshotSerializer

    def get_object(self):
        snapshot = project_snapshots(project_for_export(self.request, self.kwargs["pk"])).first()
        if snapshot is None:
            raise Http404
        return snapshot


class SnapshotManifest(ExportView, generics.RetrieveAPIView):
    serializer_class = ManifestSerializer

    def get_object(self):
        return snapshot_for_export(self.request, self.kwargs["pk"])


class IgnoreFormatParam(DefaultContentNegotiation):
    """`?format=` names a TRL dataset format here, not a DRF renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


ROW_PARAMETERS = [
    OpenApiParameter(
        "format",
        OpenApiTypes.STR,
        enum=list(FORMATS),
        default="preference",
        description="TRL dataset format of the rows.",
    ),
    OpenApiParameter(
        "split",
        OpenApiTypes.STR,
        enum=list(Split.values),
        required=False,
        description="train or test; both when left out.",
    ),
    OpenApiParameter(
        "template",
        OpenApiTypes.STR,
        required=False,
        description="Name of a registered model: the text formats (preference, unpaired, edit) render "
        "the conversation with its chat template, as TRL's apply_chat_template does "
        '(engine python). Left out: the plain "\\n\\nHuman: …\\n\\nAssistant:" rendering.',
    ),
    OpenApiParameter(
        "engine",
        OpenApiTypes.STR,
        enum=["copy", "python"],
        required=False,
        description="`copy` (PostgreSQL renders and streams the rows; the default there) "
        "or `python` (keyset-paginated reads; the default elsewhere). Same rows either way.",
    ),
]


class SnapshotRows(ExportView):
    content_negotiation_class = IgnoreFormatParam
    file_type = FILE_TYPES["jsonl"]

    def _params(self, request):
        fmt = request.query_params.get("format", "preference")
        split = request.query_params.get("split") or None
        try:
            export_format(fmt)
        except UnknownFormat as exc:
            return None, None, Response({"format": str(exc)}, status=400)
        if split is not None and split not in Split.values:
            return (
                None,
                None,
                Response({"split": f"unknown split {split!r}; one of {', '.join(Split.values)}"}, status=400),
            )
        return fmt, split, None

    def _render(self, request, snapshot, fmt):
        """(render, engine, error response) for the `template` and `engine` parameters."""
        engine = request.query_params.get("engine") or ("copy" if can_copy(fmt) else "python")
        if engine not in ("copy", "python") or (engine == "copy" and not can_copy(fmt)):
            return (
                None,
                None,
                Response(
                    {"engine": "engine is 'python', or 'copy' on PostgreSQL for a format with a SQL twin"}, status=400
                ),
            )
        name = request.query_params.get("template")
        if not name:
            return None, engine, None
        spec = ModelSpec.objects.for_project(snapshot.project).filter(name=name).first()
        render = chat_template_renderer(spec) if spec else None
        if render is None:
            why = (
                "no model of that name for this project" if spec is None else "its tokenizer has no chat template here"
            )
            return None, None, Response({"template": f"cannot render with {name!r}: {why}"}, status=400)
        return render, "python", None  # a chat template is rendered in Python, row by row

    def _filename(self, snapshot, fmt, split):
        parts = [slugify(snapshot.project.name) or "project", f"v{snapshot.version}", fmt] + ([split] if split else [])
        return "-".join(parts) + "." + self.file_type.extension

    def _headers(self, response, snapshot, fmt, split):
        response["Content-Disposition"] = f'attachment; filename="{self._filename(snapshot, fmt, split)}"'
        response["X-Snapshot-Version"] = str(snapshot.version)
        response["X-Snapshot-Content-Hash"] = snapshot.content_hash
        response["Cache-Control"] = "private, max-age=0"
        return response

    @extend_schema(parameters=ROW_PARAMETERS, responses={(200, "application/jsonl"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        snapshot = snapshot_for_export(request, pk)
        fmt, split, error = self._params(request)
        if error:
            return error
        render, engine, error = self._render(request, snapshot, fmt)
        if error:
            return error
        rows = jsonl_chunks(snapshot, fmt, split=split, engine=engine, render=render)
        response = StreamingHttpResponse(rows, content_type=f"{self.file_type.media_type}; charset=utf-8")
        return self._headers(response, snapshot, fmt, split)


class SnapshotRowsParquet(SnapshotRows):
    file_type = FILE_TYPES["parquet"]

    @extend_schema(parameters=ROW_PARAMETERS, responses={(200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        snapshot = snapshot_for_export(request, pk)
        fmt, split, error = self._params(request)
        if error:
            return error
        render, engine, error = self._render(request, snapshot, fmt)
        if error:
            return error
        # Parquet's footer comes last, so write row groups to a temporary file, then stream it.
        out = tempfile.TemporaryFile()  # noqa: SIM115
        self.file_type.write(snapshot, fmt, out, split=split, engine=engine, render=render)
        out.seek(0)
        response = FileResponse(out, content_type=self.file_type.media_type)
        return self._headers(response, snapshot, fmt, split)
