"""Celery tasks: scheduled fine-tunes (called by django-celery-beat; CPU queue — the training
itself is queued on the GPU queue)."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from curation.snapshots import EmptySnapshotError, freeze_snapshot
from workers import finetune, schedules
from workers.models import FineTuneSchedule
from workers.tasks.finetune import finetune as finetune_task
from workers.tasks.runs import TRANSIENT_ERRORS, enqueue


@shared_task(
    name=schedules.TASK_NAME,
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def run_schedule(schedule_id):
    outcome, ft = fire(schedule_id)
    return outcome


def fire(schedule_id, force=False, user=None):
    """One tick of a schedule. Returns (outcome text, fine-tune run or None)."""

    with transaction.atomic():
        schedule = (
            FineTuneSchedule.objects.select_for_update().select_related("project", "model_spec").get(pk=schedule_id)
        )
        now = timezone.now()
        count = schedules.new_labels(schedule)
        snapshot = None
        if not schedule.enabled and not force:
            outcome, ft = "skipped: schedule disabled", None
        elif count < schedule.min_new_labels and not force:
            outcome, ft = f"skipped: {count} new labels, fewer than {schedule.min_new_labels}", None
        else:
            try:
                snapshot = freeze_snapshot(
                    schedule.project,
                    user=user,
                    filters=schedule.snapshot_filters or None,
                    name=f"{schedule.name} {now:%Y-%m-%d %H:%M}",
                    test_fraction=schedule.test_fraction,
                )
            except EmptySnapshotError as exc:
                outcome, ft = f"failed: {exc}", None
        if snapshot is not None:
            try:
                ft = finetune.create_finetune(
                    snapshot,
                    schedule.model_spec,
                    schedule.method,
                    config=schedule.config,
                    lora=schedule.lora,
                    noise_weighting=schedule.noise_weighting,
                    noise_threshold=schedule.noise_threshold,
                    user=user or schedule.created_by,
                )
            except finetune.ConfigError as exc:
                outcome, ft = f"failed: snapshot v{snapshot.version} frozen, but {exc}", None
            else:
                outcome = f"fired: {count} new labels → snapshot v{snapshot.version} → fine-tune run {ft.run_id}"
            schedule.last_fired_at = now
        schedule.last_checked_at = now
        schedule.last_outcome = outcome
        if ft:
            schedule.last_run = ft.run
        schedule.save(update_fields=["last_checked_at", "last_fired_at", "last_outcome", "last_run"])
    if ft:
        enqueue(finetune_task, ft.run)  # after commit: the worker must see the run
    return outcome, ft
