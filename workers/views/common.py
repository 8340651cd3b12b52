"""What the run pages share: the project runs context (forms, schedules, charts), sending a run and
telling what became of it, and the manager check for one run. Views import this; it imports no view."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect

from annotate.permissions import project_for_manager
from workers.charts import edit_distance_context
from workers.forms import FineTuneForm, GenerationForm, RationaleForm, ScheduleForm
from workers.models import FineTuneSchedule, ModelSpec, RunState, TaskRun
from workers.tasks.runs import enqueue


def schedules_context(project, schedule_form=None, **_):
    return {
        "schedules": FineTuneSchedule.objects.filter(project=project).select_related("model_spec", "last_run"),
        "schedule_form": schedule_form or ScheduleForm(project),
    }


def run_for_manager(user, project_id, run_id):
    """The run of the URL, for a manager of the URL's project; a run of another project (or of none:
    those are seen in the admin) is a 404 here."""
    project = project_for_manager(user, project_id)
    return get_object_or_404(TaskRun.objects.select_related("project"), pk=run_id, project=project)


def project_context(project, **forms):
    context = {
        "project": project,
        "runs": TaskRun.objects.filter(project=project).select_related("finetune")[:50],
        "finetune_form": forms.get("finetune_form") or FineTuneForm(project),
        "rationale_form": forms.get("rationale_form") or RationaleForm(project),
        "generation_form": forms.get("generation_form") or GenerationForm(project),
    }
    context.update(schedules_context(project, **forms))
    context.update(edit_distance_context(project))
    context["model_specs"] = ModelSpec.objects.for_project(project).order_by("name")
    return context


def send_and_show(request, task, run, label):
    """Send the run to its queue and open its page, which follows it live. The message says what
    became of the run (queued; or, with tasks run in-process as in the tests, its outcome)."""

    if enqueue(task, run) is not None:
        tell_outcome(request, run, label)
    return redirect("workers:run", project_id=run.project_id, run_id=run.pk)


def tell_outcome(request, run, label):
    """A message on what became of a run just sent: queued, or (run in-process) its outcome."""
    run.refresh_from_db(fields=["state", "error"])
    if run.state == RunState.FAILED:
        messages.error(
            request,
            f"{label} run {run.pk} failed: {run.error.strip().splitlines()[-1] if run.error.strip() else 'see its page'}",
        )
    else:
        outcome = "queued" if run.state in (RunState.QUEUED, RunState.RUNNING) else run.get_state_display().lower()
        messages.success(request, f"{label} run {run.pk} {outcome}.")
