"""Celery tasks: noise estimation (a thin wrapper over curation.noise.run_noise)."""

from django.db import transaction

from curation.noise import AGGREGATORS, run_noise
from workers import runs
from workers.models import RunKind
from workers.tasks.runs import enqueue, run_task


@run_task(queue="cpu")
def estimate_noise(run):
    """Estimate the run's project noise; returns the run's metrics. Re-running replaces its own result."""

    params = run.params or {}
    noise_run = run_noise(
        run.project,
        task_run=run,
        use_embeddings=params.get("use_embeddings", True),
        k=int(params.get("k", 10)),
        progress=lambda step, total: runs.set_progress(run, step, total),
        aggregator=params.get("aggregator", "dawid-skene"),
    )
    if noise_run.epsilon is None:
        runs.log(run, f"noise run {noise_run.pk}: {noise_run.item_count} items scored, no ε: {noise_run.withheld}")
    else:
        runs.log(
            run,
            f"noise run {noise_run.pk}: ε = {noise_run.epsilon:.4f} "
            f"[{noise_run.epsilon_low:.4f}, {noise_run.epsilon_high:.4f}] over {noise_run.item_count} items "
            f"({noise_run.get_epsilon_method_display()})",
        )
    return {
        "noise_run": noise_run.pk,
        "epsilon": noise_run.epsilon,
        "epsilon_low": noise_run.epsilon_low,
        "epsilon_high": noise_run.epsilon_high,
        "epsilon_method": noise_run.epsilon_method,
        "items": noise_run.item_count,
        "epsilon_withheld": noise_run.withheld,
    }


def start_noise_run(project, user=None, use_embeddings=True, k=10, aggregator="dawid-skene"):
    """Create the run record and queue the task once the transaction commits."""

    if aggregator not in AGGREGATORS:  # refused before anything is queued
        raise ValueError(f"unknown aggregator {aggregator!r}; one of {', '.join(AGGREGATORS)}")
    run = runs.create_run(
        RunKind.NOISE,
        project=project,
        params={"use_embeddings": use_embeddings, "k": k, "aggregator": aggregator},
        user=user,
    )
    transaction.on_commit(lambda: enqueue(estimate_noise, run))
    return run
