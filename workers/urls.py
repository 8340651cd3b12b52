from django.urls import path

from . import views

app_name = "workers"

urlpatterns = [
    path("p/<int:project_id>/", views.project_runs, name="project_runs"),
    path("p/<int:project_id>/finetune/", views.start_finetune, name="start_finetune"),
    path("p/<int:project_id>/rationales/", views.start_rationales, name="start_rationales"),
    path("<int:run_id>/", views.run_detail, name="run"),
    path("<int:run_id>/status/", views.run_status, name="run_status"),
    path("<int:run_id>/cancel/", views.cancel_run, name="cancel_run"),
]
