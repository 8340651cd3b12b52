"""Shapes of the export API's JSON (read-only)."""

from django.urls import reverse
from rest_framework import serializers

from annotate.models import Project
from curation.formats import FILE_TYPES, FORMATS
from curation.models import Snapshot
from curation.snapshots import manifest


class ProjectSerializer(serializers.ModelSerializer):
    snapshots = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "feedback_kinds", "aspects", "principles", "created_at", "snapshots", "latest_version"]

    def get_snapshots(self, obj) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:snapshot_list", args=[obj.pk]))

    def get_latest_version(self, obj) -> int | None:
        if hasattr(obj, "latest_snapshot_version"):  # annotated by the list view (no query per project)
            return obj.latest_snapshot_version
        return obj.snapshots.order_by("-version").values_list("version", flat=True).first()


class SnapshotSerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name", read_only=True)
    rows = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "project",
            "project_name",
            "version",
            "name",
            "content_hash",
            "counts",
            "epsilon",
            "noise_summary",
            "test_fraction",
            "created_at",
            "manifest_url",
            "rows",
        ]

    def get_manifest_url(self, obj) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:snapshot_manifest", args=[obj.pk]))

    def get_rows(self, obj) -> dict:
        request = self.context["request"]
        return {
            filetype: {
                fmt: request.build_absolute_uri(reverse(f"api:snapshot_rows_{filetype}", args=[obj.pk]))
                + f"?format={fmt}"
                for fmt in FORMATS
            }
            for filetype in FILE_TYPES
        }


class ManifestSerializer(serializers.Serializer):
    """The manifest is a plain document (see curation.snapshots.manifest)."""

    def to_representation(self, instance):
        return manifest(instance)
