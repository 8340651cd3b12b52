"""Annotation pages: the project list, a project's home and settings, the workspace and gold items.

Every page of a project lives under /p/<project_id>/ (the other apps add theirs there too);
names are reversed as "annotate:<name>"."""

from django.urls import include, path

from annotate.views import gold as views_gold
from annotate.views import pages as views
from annotate.views import projects as vp
from annotate.views import workspace as ws

app_name = "annotate"

project_patterns = [
    path("", views.project_page, name="project"),
    path("settings/", vp.project_settings, name="project_settings"),
    path("settings/members/", vp.member_add, name="member_add"),
    path("settings/members/<int:membership_id>/", vp.member_change, name="member_change"),
    path("settings/invites/", vp.invite_create, name="invite_create"),
    path("settings/invites/<int:invite_id>/revoke/", vp.invite_revoke, name="invite_revoke"),
    path("annotate/", ws.workspace, name="workspace"),
    path("annotate/next/", ws.next_item, name="next_item"),
    path("annotate/a/<int:assignment_id>/submit/", ws.submit_item, name="submit_item"),
    path("annotate/a/<int:assignment_id>/skip/", ws.skip_item, name="skip_item"),
    path("annotate/a/<int:assignment_id>/draft/", ws.save_draft, name="save_draft"),
    path("annotate/recent/", ws.recent_items, name="recent_items"),
    path("annotate/a/<int:assignment_id>/amend/", ws.amend_item, name="amend_item"),
    path("gold/", views_gold.gold_page, name="gold"),
    path("gold/feedback/", views_gold.gold_feedback, name="gold_feedback"),
    path("gold/rate/", views_gold.gold_rate, name="gold_rate"),
    path("gold/<int:item_id>/", views_gold.gold_mark, name="gold_mark"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", vp.new_project, name="project_new"),
    path("invite/<str:key>/", vp.invite_accept, name="invite_accept"),
    path("p/<int:project_id>/", include(project_patterns)),
]
