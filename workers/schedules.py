"""Scheduled fine-tunes: a FineTuneSchedule row, kept in step with a django-celery-beat
PeriodicTask that calls `tasks.schedules.run_schedule(schedule_id)`. What a tick does (`fire`) lives
beside that task in `workers.tasks.schedules`, since it queues a fine-tune run.

Beat fires → enough new labels since the last fire? → freeze a snapshot → create the fine-tune run
and queue it. Too few labels: the schedule records why it skipped and waits for the next tick.
"""

import json
from typing import Any

from django.db import transaction

from annotate.models import Annotation, AnnotationStatus
from workers import finetune
from workers.models import FineTuneSchedule

TASK_NAME = "workers.tasks.schedules.run_schedule"


def periodic_task_name(schedule: FineTuneSchedule) -> str:
    return f"tandem: {schedule.project.name} / {schedule.name} (#{schedule.pk})"


def sync_periodic_task(schedule: FineTuneSchedule) -> Any:
    """Create or update the beat entry for a schedule (crontab in UTC, enabled flag, args)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=schedule.minute,
        hour=schedule.hour,
        day_of_week=schedule.day_of_week,
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    fields = {
        "name": periodic_task_name(schedule),
        "task": TASK_NAME,
        "crontab": crontab,
        "args": json.dumps([schedule.pk]),
        "enabled": schedule.enabled,
        "queue": "cpu",
    }
    task = PeriodicTask.objects.filter(pk=schedule.periodic_task_id).first() if schedule.periodic_task_id else None
    if task is not None:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()  # save(), not update(): its signal tells a running beat to reload
        schedule.periodic_task = task
    else:
        task = PeriodicTask.objects.create(**fields)
        FineTuneSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    return schedule.periodic_task


def validate_crontab(minute: str, hour: str, day_of_week: str) -> None:
    from celery.schedules import ParseException, crontab

    try:
        crontab(minute=minute, hour=hour, day_of_week=day_of_week)
    except (ParseException, ValueError) as exc:
        raise finetune.ConfigError(f"bad crontab field: {exc}") from exc


def validate_schedule(schedule: FineTuneSchedule) -> None:
    """Raise ConfigError unless the crontab, the TRL config and the LoRA config are valid."""
    validate_crontab(schedule.minute, schedule.hour, schedule.day_of_week)
    if schedule.model_spec.project_id not in (None, schedule.project_id):
        raise finetune.ConfigError(f"model {schedule.model_spec.name} belongs to another project")
    config = dict(schedule.config or {})
    if schedule.method == "rdpo":  # ε comes from the snapshot frozen at fire time
        config.setdefault("label_smoothing", 0.0)
    probe = finetune.FineTuneRun(
        method=schedule.method, config=config, lora=schedule.lora, model_spec=schedule.model_spec
    )
    finetune.trl_config(probe, "/tmp/tandem-validate")
    finetune.lora_config(probe)


def save_schedule(schedule: FineTuneSchedule) -> FineTuneSchedule:
    """Validate and save the schedule with its beat entry, atomically."""
    validate_schedule(schedule)
    with transaction.atomic():
        schedule.save()
        sync_periodic_task(schedule)
    return schedule


def delete_schedule(schedule: FineTuneSchedule) -> None:
    with transaction.atomic():
        if schedule.periodic_task is not None:
            schedule.periodic_task.delete()
        schedule.delete()


def new_labels(schedule: FineTuneSchedule) -> int:
    """Labels (people and judges, parsed) added to the project since the schedule last fired."""
    qs = Annotation.objects.filter(item__project=schedule.project, status=AnnotationStatus.OK)
    if schedule.last_fired_at:
        qs = qs.filter(created_at__gt=schedule.last_fired_at)
    return qs.count()
