"""Run pages: a project's runs with forms to start them, and one run's live status (HTMX polling)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.permissions import is_admin, project_for_manager

from . import finetune, generation, rationales, runs
from .models import FineTuneRun, ModelSpec, RunState, TaskRun
from .views_charts import edit_distance_context, loss_chart
from .views_forms import FineTuneForm, GenerationForm, RationaleForm


def run_for_manager(user, run_id):
    run = get_object_or_404(TaskRun.objects.select_related("project"), pk=run_id)
    if run.project_id is None:
        if not is_admin(user):
            raise PermissionDenied("only admins see runs outside a project")
    else:
        project_for_manager(user, run.project_id)
    return run


def project_context(project, **forms):
    from . import views_schedules

    context = {
        "project": project,
        "runs": TaskRun.objects.filter(project=project).select_related("finetune")[:50],
        "finetune_form": forms.get("finetune_form") or FineTuneForm(project),
        "rationale_form": forms.get("rationale_form") or RationaleForm(project),
        "generation_form": forms.get("generation_form") or GenerationForm(project),
    }
    context.update(views_schedules.context(project, **forms))
    context.update(edit_distance_context(project))
    context["model_specs"] = ModelSpec.objects.for_project(project).order_by("name")
    return context


@login_required
def project_runs(request, project_id):
    project = project_for_manager(request.user, project_id)
    return render(request, "workers/project_runs.html", project_context(project))


def send_and_show(request, task, run, label):
    """Send the run to its queue and open its page, which follows it live. The message says what
    became of the run (queued; or, with tasks run in-process as in the tests, its outcome)."""
    from .tasks.runs import enqueue

    if enqueue(task, run) is not None:
        tell_outcome(request, run, label)
    return redirect("workers:run", run_id=run.pk)


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


@login_required
@require_POST
def start_finetune(request, project_id):
    from .tasks.finetune import finetune as task

    project = project_for_manager(request.user, project_id)
    form = FineTuneForm(project, request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            ft = finetune.create_finetune(
                d["snapshot"],
                d["model_spec"],
                d["method"],
                config=d["config"],
                lora=d["lora"],
                noise_weighting=d["noise_weighting"],
                noise_threshold=d["noise_threshold"],
                user=request.user,
            )
        except finetune.ConfigError as exc:
            form.add_error(None, str(exc))
        else:
            return send_and_show(request, task, ft.run, "Fine-tune")
    return render(request, "workers/project_runs.html", project_context(project, finetune_form=form), status=400)


@login_required
@require_POST
def start_rationales(request, project_id):
    from .tasks.rationales import generate_rationales as task

    project = project_for_manager(request.user, project_id)
    form = RationaleForm(project, request.POST)
    if form.is_valid():
        d = form.cleaned_data
        run = rationales.start_rationale_run(
            d["snapshot"],
            d["model_spec"],
            user=request.user,
            kinds=d["kinds"],
            batch_size=d["batch_size"],
            max_new_tokens=d["max_new_tokens"],
        )
        return send_and_show(request, task, run, "Rationale")
    return render(request, "workers/project_runs.html", project_context(project, rationale_form=form), status=400)


@login_required
@require_POST
def start_generation(request, project_id):
    from .tasks.generation import generate_candidates as task

    project = project_for_manager(request.user, project_id)
    form = GenerationForm(project, request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            run = generation.start_generation_run(
                project,
                d["model_spec"],
                user=request.user,
                n=d["n"],
                item_kind=d["item_kind"],
                max_new_tokens=d["max_new_tokens"],
                temperature=d["temperature"],
                instruction=d["instruction"],
                preference_annotator=d["preference_annotator"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return send_and_show(request, task, run, "Generation")
    return render(request, "workers/project_runs.html", project_context(project, generation_form=form), status=400)


# A fine-tune's row counts, in the order the rows went through (workers/finetune.build_trainer).
ROW_COUNT_LABELS = {
    "kept": "train rows kept",
    "dropped": "dropped by noise weighting",
    "prompts_cut": "prompts cut to their end (max_length)",
    "completions_cut": "rows with a completion still too long",
    "trl_rows": "rows after TRL's processing",
    "trl_dropped": "dropped by TRL",
    "trl_truncated": "truncated by TRL at max_length",
}


def run_context(run):
    ft = FineTuneRun.objects.filter(run=run).select_related("snapshot", "model_spec", "result_spec").first()
    # Pairs, not dicts: a template's `d.items` looks up a key named "items" first, and runs store
    # metrics and params under that name (an item count).
    metrics = [(k, v) for k, v in (run.metrics or {}).items() if k not in ("history", "evaluation")]
    rows = (run.metrics or {}).get("rows")
    row_counts = (
        [(ROW_COUNT_LABELS.get(k, k), v) for k, v in rows.items() if not isinstance(v, dict)]
        if isinstance(rows, dict)
        else []
    )
    choice = rows.get("rdpo_epsilon") if isinstance(rows, dict) else None
    if choice:  # workers/rdpo_epsilon.py: the ε trained with, next to the snapshot's pre-filter one
        row_counts.append(
            (
                f"rdpo ε (from the {choice['source']}; snapshot's pre-filter ε {choice['snapshot']})",
                round(choice["applied"], 4),
            )
        )
    params = list((run.params or {}).items())
    return {
        "run": run,
        "project": run.project,
        "ft": ft,
        "chart": loss_chart(run.metrics),
        "metrics": metrics,
        "row_counts": row_counts,
        "artifacts": runs.artifacts(run),
        "params": params,
    }


@login_required
def run_detail(request, run_id):
    run = run_for_manager(request.user, run_id)
    return render(request, "workers/run_detail.html", run_context(run))


@login_required
def run_status(request, run_id):
    run = run_for_manager(request.user, run_id)
    return render(request, "workers/_run_status.html", run_context(run))


@login_required
@require_POST
def retry_run(request, run_id):
    from config.celery import app

    run = run_for_manager(request.user, run_id)
    task = app.tasks.get(run.task_name)
    if task is None:
        messages.error(request, "This run cannot be retried from here (its task is unknown).")
    elif runs.retry_run(run):
        return send_and_show(request, task, run, "Retried")
    return redirect("workers:run", run_id=run.pk)


@login_required
@require_POST
def cancel_run(request, run_id):
    run = run_for_manager(request.user, run_id)
    if not run.finished:
        runs.request_cancel(run)
        run.refresh_from_db()
    if request.headers.get("HX-Request"):
        return render(request, "workers/_run_status.html", run_context(run))
    return redirect("workers:run", run_id=run.pk)
