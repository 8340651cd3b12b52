"""Run pages: a project's runs with forms to start them, and one run's live status (HTMX polling)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.errors import ServiceError
from annotate.permissions import project_for_manager
from config.celery import app
from workers import finetune, generation, rationales, runs
from workers.charts import loss_chart
from workers.forms import FineTuneForm, GenerationForm, RationaleForm
from workers.models import FineTuneRun
from workers.tasks.finetune import finetune as finetune_task
from workers.tasks.generation import generate_candidates
from workers.tasks.rationales import generate_rationales
from workers.views.common import project_context, run_for_manager, send_and_show


@login_required
def project_runs(request, project_id):
    project = project_for_manager(request.user, project_id)
    return render(request, "workers/project_runs.html", project_context(project))


@login_required
@require_POST
def start_finetune(request, project_id):
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
            return send_and_show(request, finetune_task, ft.run, "Fine-tune")
    return render(request, "workers/project_runs.html", project_context(project, finetune_form=form), status=400)


@login_required
@require_POST
def start_rationales(request, project_id):
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
        return send_and_show(request, generate_rationales, run, "Rationale")
    return render(request, "workers/project_runs.html", project_context(project, rationale_form=form), status=400)


@login_required
@require_POST
def start_generation(request, project_id):
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
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            return send_and_show(request, generate_candidates, run, "Generation")
    return render(request, "workers/project_runs.html", project_context(project, generation_form=form), status=400)


# A fine-tune's row counts, in the order the rows went through (workers/finetune.build_trainer).
ROW_COUNT_LABELS = {
    "kept": "train rows kept",
    "dropped": "dropped by noise weighting",
    "robust_rows": "rows robust DPO's ε applies to (pairwise; the rest at ε = 0)",
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
def run_detail(request, project_id, run_id):
    run = run_for_manager(request.user, project_id, run_id)
    return render(request, "workers/run_detail.html", run_context(run))


@login_required
def run_status(request, project_id, run_id):
    run = run_for_manager(request.user, project_id, run_id)
    return render(request, "workers/_run_status.html", run_context(run))


@login_required
@require_POST
def retry_run(request, project_id, run_id):
    run = run_for_manager(request.user, project_id, run_id)
    task = app.tasks.get(run.task_name)
    if task is None:
        messages.error(request, "This run cannot be retried from here (its task is unknown).")
    elif runs.retry_run(run):
        return send_and_show(request, task, run, "Retried")
    return redirect("workers:run", project_id=run.project_id, run_id=run.pk)


@login_required
@require_POST
def cancel_run(request, project_id, run_id):
    run = run_for_manager(request.user, project_id, run_id)
    if not run.finished:
        runs.request_cancel(run)
        run.refresh_from_db()
    if request.headers.get("HX-Request"):
        return render(request, "workers/_run_status.html", run_context(run))
    return redirect("workers:run", project_id=run.project_id, run_id=run.pk)
