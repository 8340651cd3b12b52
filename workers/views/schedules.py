"""Schedules on the runs page: create, enable/disable, run now, delete (managers only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.permissions import project_for_manager
from workers import finetune, schedules
from workers.forms import ScheduleForm
from workers.models import FineTuneSchedule
from workers.tasks import schedules as schedule_tasks
from workers.views.common import project_context


@login_required
@require_POST
def create_schedule(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = ScheduleForm(project, request.POST)
    if form.is_valid():
        schedule = form.save(commit=False)
        schedule.created_by = request.user
        try:
            schedules.save_schedule(schedule)
        except finetune.ConfigError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Schedule “{schedule.name}” saved.")
            return redirect("workers:project_runs", project_id=project.pk)
    return render(request, "workers/project_runs.html", project_context(project, schedule_form=form), status=400)


def _schedule(request, project_id, schedule_id):
    project = project_for_manager(request.user, project_id)
    return get_object_or_404(FineTuneSchedule, pk=schedule_id, project=project)


@login_required
@require_POST
def toggle_schedule(request, project_id, schedule_id):
    schedule = _schedule(request, project_id, schedule_id)
    schedule.enabled = not schedule.enabled
    schedules.save_schedule(schedule)
    return redirect("workers:project_runs", project_id=schedule.project_id)


@login_required
@require_POST
def run_schedule_now(request, project_id, schedule_id):
    schedule = _schedule(request, project_id, schedule_id)
    outcome, ft = schedule_tasks.fire(schedule.pk, force=True, user=request.user)
    messages.info(request, outcome)
    if ft:
        return redirect("workers:run", project_id=schedule.project_id, run_id=ft.run_id)
    return redirect("workers:project_runs", project_id=schedule.project_id)


@login_required
@require_POST
def delete_schedule(request, project_id, schedule_id):
    schedule = _schedule(request, project_id, schedule_id)
    schedules.delete_schedule(schedule)
    messages.success(request, "Schedule deleted.")
    return redirect("workers:project_runs", project_id=schedule.project_id)
