"""Curation dashboard (mounted under /curation/)."""

from django.urls import path

from curation.views import dashboard as v
from curation.views import records as r

urlpatterns = [
    path("p/<int:project_id>/", v.dashboard, name="curation-dashboard"),
    path("p/<int:project_id>/preview/", v.preview, name="curation-preview"),
    path("p/<int:project_id>/figures/", v.figures, name="curation-figures"),
    path("p/<int:project_id>/records/", r.record_list, name="curation-records"),
    path("p/<int:project_id>/records/bulk/", r.record_bulk, name="curation-records-bulk"),
    path("p/<int:project_id>/actions/noise/", v.noise_action, name="curation-noise-action"),
    path("p/<int:project_id>/actions/dedupe/search/", v.dedupe_search, name="curation-dedupe-search"),
    path("p/<int:project_id>/actions/dedupe/preview/", v.dedupe_preview, name="curation-dedupe-preview"),
    path("p/<int:project_id>/actions/dedupe/", v.dedupe_action, name="curation-dedupe"),
    path("p/<int:project_id>/actions/<int:action_id>/undo/", v.undo_action, name="curation-undo"),
    path("p/<int:project_id>/noise/run/", v.run_noise, name="curation-run-noise"),
    path("p/<int:project_id>/noise/status/", v.noise_status, name="curation-noise-status"),
    path("p/<int:project_id>/snapshots/freeze/", v.freeze, name="curation-freeze"),
    path("p/<int:project_id>/snapshots/<int:snapshot_id>/", v.snapshot_detail, name="curation-snapshot"),
    path("p/<int:project_id>/tokens/", v.issue_token, name="curation-issue-token"),
    path("p/<int:project_id>/tokens/<int:token_id>/revoke/", v.revoke_token, name="curation-revoke-token"),
]
