from django.urls import path

from curation.views import pluralism as views_pluralism
from curation.views import routing as views

urlpatterns = [
    path("p/<int:project_id>/routing/", views.routing_page, name="routing"),
    path("p/<int:project_id>/routing/runs/", views.runs_fragment, name="routing-runs"),
    path("p/<int:project_id>/routing/judges/add/", views.add_judge, name="routing-add-judge"),
    path("p/<int:project_id>/routing/judges/attach/", views.attach_judge, name="routing-attach-judge"),
    path("p/<int:project_id>/routing/judges/<int:judge_id>/remove/", views.remove_judge, name="routing-remove-judge"),
    path("p/<int:project_id>/routing/judges/<int:judge_id>/train/", views.train_judge, name="routing-train-judge"),
    path("p/<int:project_id>/routing/judge/", views.run_judging, name="routing-run-judging"),
    path("p/<int:project_id>/routing/features/", views.run_features, name="routing-run-features"),
    path("p/<int:project_id>/routing/route/", views.run_routing, name="routing-run-routing"),
    path("p/<int:project_id>/routing/bias/", views_pluralism.bias_page, name="curation-bias"),
    path("p/<int:project_id>/routing/bias/status/", views_pluralism.bias_status, name="curation-bias-status"),
    path("p/<int:project_id>/routing/bias/run/", views_pluralism.run_bias_audit, name="curation-run-bias-audit"),
    path("p/<int:project_id>/routing/bias/error-tags/", views_pluralism.run_error_tags, name="curation-run-error-tags"),
    path("p/<int:project_id>/routing/groups/", views_pluralism.groups_page, name="curation-groups"),
    path("p/<int:project_id>/routing/groups/run/", views_pluralism.run_groups, name="curation-run-groups"),
    path("p/<int:project_id>/items/<int:item_id>/", views.item_page, name="routing-item"),
]
