"""REST export API (mounted at /api/)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from curation.views import export_api as api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("projects/", api.ProjectList.as_view(), name="api-project-list"),
    path("projects/<int:pk>/", api.ProjectDetail.as_view(), name="api-project-detail"),
    path("projects/<int:pk>/snapshots/", api.SnapshotList.as_view(), name="api-snapshot-list"),
    path("projects/<int:pk>/snapshots/latest/", api.LatestSnapshot.as_view(), name="api-snapshot-latest"),
    path("snapshots/<int:pk>/", api.SnapshotDetail.as_view(), name="api-snapshot-detail"),
    path("snapshots/<int:pk>/manifest/", api.SnapshotManifest.as_view(), name="api-snapshot-manifest"),
    path("snapshots/<int:pk>/rows.jsonl", api.SnapshotRows.as_view(), name="api-snapshot-rows-jsonl"),
    path("snapshots/<int:pk>/rows.parquet", api.SnapshotRowsParquet.as_view(), name="api-snapshot-rows-parquet"),
]
