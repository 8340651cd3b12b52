"""The fine-tune API (mounted at /api/): start, list, follow and cancel fine-tune runs, reversed as
"runs_api:<name>"."""

from django.urls import path

from workers.views import finetune_api as api

app_name = "runs_api"

urlpatterns = [
    path("projects/<int:project_id>/finetunes/", api.FineTuneList.as_view(), name="finetunes"),
    path("projects/<int:project_id>/finetunes/<int:run_id>/", api.FineTuneDetail.as_view(), name="finetune"),
    path(
        "projects/<int:project_id>/finetunes/<int:run_id>/cancel/",
        api.FineTuneCancel.as_view(),
        name="cancel_finetune",
    ),
]
