from django.urls import path

from annotate.views import api as views_api

urlpatterns = [
    path("p/<int:project_id>/next/", views_api.api_next, name="api_annotate_next"),
    path("a/<int:assignment_id>/submit/", views_api.api_submit, name="api_annotate_submit"),
    path("a/<int:assignment_id>/skip/", views_api.api_skip, name="api_annotate_skip"),
    path("a/<int:assignment_id>/draft/", views_api.api_draft, name="api_annotate_draft"),
]
