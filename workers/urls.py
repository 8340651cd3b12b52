"""Run pages of a project under /p/<project_id>/runs/ (runs, schedules, fine-tune, generation and
rationale starts) and the latent preferences under /p/<project_id>/preferences/. A run or schedule
is looked up within the project of its URL. Names are reversed as "workers:<name>"."""

from django.urls import include, path

from workers.views import prefs as views_prefs
from workers.views import runs as views
from workers.views import schedules as views_schedules

app_name = "workers"

run_patterns = [
    path("", views.project_runs, name="project_runs"),
    path("finetune/", views.start_finetune, name="start_finetune"),
    path("generate/", views.start_generation, name="start_generation"),
    path("rationales/", views.start_rationales, name="start_rationales"),
    path("schedules/", views_schedules.create_schedule, name="create_schedule"),
    path("schedules/<int:schedule_id>/toggle/", views_schedules.toggle_schedule, name="toggle_schedule"),
    path("schedules/<int:schedule_id>/run/", views_schedules.run_schedule_now, name="run_schedule"),
    path("schedules/<int:schedule_id>/delete/", views_schedules.delete_schedule, name="delete_schedule"),
    path("<int:run_id>/", views.run_detail, name="run"),
    path("<int:run_id>/status/", views.run_status, name="run_status"),
    path("<int:run_id>/cancel/", views.cancel_run, name="cancel_run"),
    path("<int:run_id>/retry/", views.retry_run, name="retry_run"),
]

preference_patterns = [
    path("", views_prefs.preferences, name="latent_prefs"),
    path("run/", views_prefs.start_inference, name="start_preferences"),
    path("<int:pref_id>/correct/", views_prefs.correct_pref, name="correct_pref"),
]

urlpatterns = [
    path("p/<int:project_id>/runs/", include(run_patterns)),
    path("p/<int:project_id>/preferences/", include(preference_patterns)),
]
