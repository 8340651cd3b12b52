"""Celery tasks: noise estimation (a thin wrapper over curation.noise.run_noise)."""
import traceback

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from workers import runs
from workers.models import RunKind, RunState, TaskRun


def noise_service(run):
    """Service entry point: estimate the run's project noise; returns the run's metrics."""
    from curation.noise import run_noise

    params = run.params or {}
    noise_run = run_noise(
        run.project, task_run=run, use_embeddings=params.get("use_embeddings", True), k=int(params.get("k", 10)),
        progress=lambda step, total: runs.set_progress(run, step, total),
    )
    runs.log(run, f"noise run {noise_run.pk}: ε = {noise_run.epsilon:.4f} "
                  f"[{noise_run.epsilon_low:.4f}, {noise_run.epsilon_high:.4f}] over {noise_run.item_count} items")
    return {"noise_run": noise_run.pk, "epsilon": noise_run.epsilon, "epsilon_low": noise_run.epsilon_low,
            "epsilon_high": noise_run.epsilon_high, "items": noise_run.item_count}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def estimate_noise(self, run_id):
    run = TaskRun.objects.select_related("project").get(pk=run_id)
    if run.finished:
        return run.state  # a redelivered message for a finished run is a no-op
    runs.start_run(run, worker=self.request.hostname or "", celery_task_id=self.request.id or "")
    try:
        metrics = noise_service(run)
    except runs.RunCancelled:
        runs.finish_run(run, state=RunState.CANCELLED)
        return RunState.CANCELLED
    except (OperationalError, InterfaceError):
        raise  # transient: Celery retries, the service replaces its partial result
    except Exception:
        runs.finish_run(run, state=RunState.FAILED, error=traceback.format_exc()[-4000:])
        raise
    runs.finish_run(run, metrics=metrics)
    return RunState.SUCCEEDED


def start_noise_run(project, user=None, use_embeddings=True, k=10):
    """Create the run record and queue the task once the transaction commits."""
    run = runs.create_run(RunKind.NOISE, project=project, params={"use_embeddings": use_embeddings, "k": k}, user=user)
    transaction.on_commit(lambda: estimate_noise.delay(run.pk))
    return run
