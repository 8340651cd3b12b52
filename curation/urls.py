"""Manager pages of a project: the curation dashboard (records, actions, snapshots, tokens) under
/p/<project_id>/curation/, routing and LM judges under /p/<project_id>/routing/, and one item's
judgements. Names are reversed as "curation:<name>"."""

from django.urls import include, path

from curation.views import dashboard as v
from curation.views import pluralism as views_pluralism
from curation.views import records as r
from curation.views import routing as views_routing

app_name = "curation"

dashboard_patterns = [
    path("", v.dashboard, name="dashboard"),
    path("preview/", v.preview, name="preview"),
    path("figures/", v.figures, name="figures"),
    path("records/", r.record_list, name="records"),
    path("records/bulk/", r.record_bulk, name="records_bulk"),
    path("actions/noise/", v.noise_action, name="noise_action"),
    path("actions/dedupe/search/", v.dedupe_search, name="dedupe_search"),
    path("actions/dedupe/preview/", v.dedupe_preview, name="dedupe_preview"),
    path("actions/dedupe/", v.dedupe_action, name="dedupe"),
    path("actions/<int:action_id>/undo/", v.undo_action, name="undo"),
    path("noise/run/", v.run_noise, name="run_noise"),
    path("noise/status/", v.noise_status, name="noise_status"),
    path("snapshots/freeze/", v.freeze, name="freeze"),
    path("snapshots/<int:snapshot_id>/", v.snapshot_detail, name="snapshot"),
    path("tokens/", v.issue_token, name="issue_token"),
    path("tokens/<int:token_id>/revoke/", v.revoke_token, name="revoke_token"),
]

routing_patterns = [
    path("", views_routing.routing_page, name="routing"),
    path("runs/", views_routing.runs_fragment, name="routing_runs"),
    path("judges/add/", views_routing.add_judge, name="add_judge"),
    path("judges/attach/", views_routing.attach_judge, name="attach_judge"),
    path("judges/<int:judge_id>/remove/", views_routing.remove_judge, name="remove_judge"),
    path("judges/<int:judge_id>/train/", views_routing.train_judge, name="train_judge"),
    path("judge/", views_routing.run_judging, name="run_judging"),
    path("features/", views_routing.run_features, name="run_features"),
    path("route/", views_routing.run_routing, name="run_routing"),
    path("bias/", views_pluralism.bias_page, name="bias"),
    path("bias/status/", views_pluralism.bias_status, name="bias_status"),
    path("bias/run/", views_pluralism.run_bias_audit, name="run_bias_audit"),
    path("bias/error-tags/", views_pluralism.run_error_tags, name="run_error_tags"),
    path("groups/", views_pluralism.groups_page, name="groups"),
    path("groups/run/", views_pluralism.run_groups, name="run_groups"),
]

urlpatterns = [
    path("p/<int:project_id>/curation/", include(dashboard_patterns)),
    path("p/<int:project_id>/routing/", include(routing_patterns)),
    path("p/<int:project_id>/items/<int:item_id>/", views_routing.item_page, name="item"),
]
