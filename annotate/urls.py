from django.urls import include, path

from annotate.views import gold as views_gold
from annotate.views import pages as views
from annotate.views import projects as vp
from annotate.views import workspace as ws

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<int:project_id>/", views.project_page, name="project"),
    path("projects/new/", vp.new_project, name="project-new"),
    path("p/<int:project_id>/settings/", vp.project_settings, name="project-settings"),
    path("p/<int:project_id>/settings/members/", vp.member_add, name="project-member-add"),
    path("p/<int:project_id>/settings/members/<int:membership_id>/", vp.member_change, name="project-member-change"),
    path("p/<int:project_id>/settings/invites/", vp.invite_create, name="project-invite-create"),
    path("p/<int:project_id>/settings/invites/<int:invite_id>/revoke/", vp.invite_revoke, name="project-invite-revoke"),
    path("invite/<str:key>/", vp.invite_accept, name="invite-accept"),
    path("p/<int:project_id>/annotate/", ws.workspace, name="workspace"),
    path("p/<int:project_id>/annotate/next/", ws.next_item, name="next_item"),
    path("p/<int:project_id>/annotate/a/<int:assignment_id>/submit/", ws.submit_item, name="submit_item"),
    path("p/<int:project_id>/annotate/a/<int:assignment_id>/skip/", ws.skip_item, name="skip_item"),
    path("p/<int:project_id>/annotate/a/<int:assignment_id>/draft/", ws.save_draft, name="save_draft"),
    path("p/<int:project_id>/annotate/recent/", ws.recent_items, name="recent_items"),
    path("p/<int:project_id>/annotate/a/<int:assignment_id>/amend/", ws.amend_item, name="amend_item"),
    path("p/<int:project_id>/gold/", views_gold.gold_page, name="gold"),
    path("p/<int:project_id>/gold/feedback/", views_gold.gold_feedback, name="gold_feedback"),
    path("p/<int:project_id>/gold/rate/", views_gold.gold_rate, name="gold_rate"),
    path("p/<int:project_id>/gold/<int:item_id>/", views_gold.gold_mark, name="gold_mark"),
    path("api/annotate/", include("annotate.api_urls")),
]
