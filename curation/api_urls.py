"""REST export API (mounted at /api/), reversed as "api:<name>"."""

from django.urls import path

from curation.views import export_api as api

app_name = "api"

urlpatterns = [
    path("projects/", api.ProjectList.as_view(), name="project_list"),
    path("projects/<int:pk>/", api.ProjectDetail.as_view(), name="project_detail"),
    path("projects/<int:pk>/snapshots/", api.SnapshotList.as_view(), name="snapshot_list"),
    path("projects/<int:pk>/snapshots/latest/", api.LatestSnapshot.as_view(), name="snapshot_latest"),
    path("snapshots/<int:pk>/", api.SnapshotDetail.as_view(), name="snapshot_detail"),
    path("snapshots/<int:pk>/manifest/", api.SnapshotManifest.as_view(), name="snapshot_manifest"),
    path("snapshots/<int:pk>/rows.jsonl", api.SnapshotRows.as_view(), name="snapshot_rows_jsonl"),
    path("snapshots/<int:pk>/rows.parquet", api.SnapshotRowsParquet.as_view(), name="snapshot_rows_parquet"),
]
