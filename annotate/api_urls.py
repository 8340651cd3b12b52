"""The annotation API (mounted at /api/annotate/): next / submit / skip / draft, reversed as
"annotate_api:<name>"."""

from django.urls import path

from annotate.views import api as views_api

app_name = "annotate_api"

urlpatterns = [
    path("p/<int:project_id>/next/", views_api.NextItem.as_view(), name="next"),
    path("a/<int:assignment_id>/submit/", views_api.Submit.as_view(), name="submit"),
    path("a/<int:assignment_id>/skip/", views_api.Skip.as_view(), name="skip"),
    path("a/<int:assignment_id>/draft/", views_api.Draft.as_view(), name="draft"),
]
