from django.urls import path

from workers.views import prefs as views_prefs
from workers.views import runs as views
from workers.views import schedules as views_schedules

app_name = "workers"

urlpatterns = [
    path("p/<int:project_id>/", views.project_runs, name="project_runs"),
    path("p/<int:project_id>/finetune/", views.start_finetune, name="start_finetune"),
    path("p/<int:project_id>/generate/", views.start_generation, name="start_generation"),
    path("p/<int:project_id>/rationales/", views.start_rationales, name="start_rationales"),
    path("p/<int:project_id>/schedules/", views_schedules.create_schedule, name="create_schedule"),
    path("schedules/<int:schedule_id>/toggle/", views_schedules.toggle_schedule, name="toggle_schedule"),
    path("schedules/<int:schedule_id>/run/", views_schedules.run_schedule_now, name="run_schedule"),
    path("schedules/<int:schedule_id>/delete/", views_schedules.delete_schedule, name="delete_schedule"),
    path("prefs/<int:project_id>/", views_prefs.preferences, name="latent_prefs"),
    path("prefs/<int:project_id>/<int:pref_id>/correct/", views_prefs.correct_pref, name="correct_pref"),
    path("p/<int:project_id>/preferences/", views_prefs.start_inference, name="start_preferences"),
    path("<int:run_id>/", views.run_detail, name="run"),
    path("<int:run_id>/status/", views.run_status, name="run_status"),
    path("<int:run_id>/cancel/", views.cancel_run, name="cancel_run"),
    path("<int:run_id>/retry/", views.retry_run, name="retry_run"),
]
