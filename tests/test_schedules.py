import json

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from curation.models import Snapshot
from tests import curation_data
from tests import workers_helpers as wh
from tests.workers_helpers import artifacts_dir, tiny_model_dir  # noqa: F401
from workers import finetune, schedules
from workers.models import FineTuneRun, FineTuneSchedule
from workers.tasks import schedules as schedule_tasks
from workers.tasks.schedules import run_schedule

pytestmark = pytest.mark.django_db

FAST = {"per_device_train_batch_size": 4, "max_length": 64, "learning_rate": 1e-3}


def make_schedule(project, spec, **fields):
    fields = {"name": "nightly", "min_new_labels": 10, "config": FAST, "model_spec": spec, **fields}
    return schedules.save_schedule(FineTuneSchedule(project=project, **fields))


def test_schedule_keeps_beat_entry_in_step(project, tmp_path):
    spec = wh.model_spec(tmp_path)
    s = make_schedule(project, spec, hour="3", minute="30")
    task = PeriodicTask.objects.get(pk=s.periodic_task_id)
    assert task.task == "workers.tasks.schedules.run_schedule" and json.loads(task.args) == [s.pk] and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("3", "30")
    s.enabled, s.hour = False, "4"
    schedules.save_schedule(s)
    task.refresh_from_db()
    assert not task.enabled and task.crontab.hour == "4"
    schedules.delete_schedule(s)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_bad_schedule_rejected(project, tmp_path):
    spec = wh.model_spec(tmp_path)
    with pytest.raises(finetune.ConfigError, match="crontab"):
        make_schedule(project, spec, hour="25")
    with pytest.raises(finetune.ConfigError, match="epochs is not a training field"):
        make_schedule(project, spec, config={"epochs": 3})
    assert not FineTuneSchedule.objects.exists() and not PeriodicTask.objects.filter(task=schedules.TASK_NAME).exists()


@pytest.mark.slow
def test_beat_task_skips_then_fires(project, tiny_model_dir, artifacts_dir):
    spec = wh.model_spec(tiny_model_dir)
    s = make_schedule(project, spec, min_new_labels=30, method="dpo")
    curation_data.labelled_project(project, pairs=6, binaries=2, edits=2, annotators=2)  # 16 labels
    assert run_schedule.delay(s.pk).get() == "skipped: 16 new labels, fewer than 30"
    assert not Snapshot.objects.exists()
    curation_data.labelled_project(project, pairs=8, binaries=0, edits=0, annotators=2)  # 32 labels in all
    outcome = run_schedule.delay(s.pk).get()
    assert outcome.startswith("fired: 32 new labels → snapshot v1 → fine-tune run")
    ft = FineTuneRun.objects.get()
    assert ft.snapshot.version == 1 and ft.run.state == "succeeded"
    s.refresh_from_db()
    assert s.last_run == ft.run and s.last_fired_at
    # nothing new since the fire: the next tick skips
    assert run_schedule.delay(s.pk).get() == "skipped: 0 new labels, fewer than 30"
    assert FineTuneRun.objects.count() == 1


def test_disabled_schedule_does_not_fire(project, tmp_path):
    s = make_schedule(project, wh.model_spec(tmp_path), enabled=False, min_new_labels=0)
    assert schedule_tasks.fire(s.pk)[0] == "skipped: schedule disabled"


def test_schedule_pages(client, project, manager_user, annotator_user, tmp_path):
    spec = wh.model_spec(tmp_path)
    client.force_login(annotator_user)
    assert client.post(reverse("workers:create_schedule", args=[project.pk]), {}).status_code == 403
    client.force_login(manager_user)
    data = {
        "name": "nightly",
        "hour": "2",
        "minute": "0",
        "day_of_week": "*",
        "min_new_labels": 50,
        "model_spec": spec.pk,
        "method": "dpo",
        "config": '{"beta": 0.2}',
        "lora": "",
        "noise_weighting": "none",
        "noise_threshold": 0.5,
        "test_fraction": 0.1,
    }
    assert client.post(reverse("workers:create_schedule", args=[project.pk]), data).status_code == 302
    s = FineTuneSchedule.objects.get()
    assert s.config == {"beta": 0.2} and s.lora is None and s.created_by == manager_user and s.periodic_task
    bad = client.post(reverse("workers:create_schedule", args=[project.pk]), {**data, "name": "x", "hour": "99"})
    assert bad.status_code == 400 and b"crontab" in bad.content
    page = client.get(reverse("workers:project_runs", args=[project.pk])).content.decode()
    assert "nightly" in page and "≥ 50 new labels" in page
    client.post(reverse("workers:toggle_schedule", args=[project.pk, s.pk]))
    s.refresh_from_db()
    assert not s.enabled and not s.periodic_task.enabled
    client.post(reverse("workers:delete_schedule", args=[project.pk, s.pk]))
    assert not FineTuneSchedule.objects.exists()


def test_admin_keeps_beat_in_step(client, project, admin_user, tmp_path):
    spec = wh.model_spec(tmp_path)
    client.force_login(admin_user)
    data = {
        "project": project.pk,
        "name": "weekly",
        "enabled": "on",
        "minute": "0",
        "hour": "3",
        "day_of_week": "sun",
        "min_new_labels": 20,
        "snapshot_filters": "{}",
        "test_fraction": 0.1,
        "model_spec": spec.pk,
        "method": "kto",
        "config": '{"beta": 0.2}',
        "lora": "null",
        "noise_weighting": "none",
        "noise_threshold": 0.5,
    }
    resp = client.post("/admin/workers/finetuneschedule/add/", data)
    assert resp.status_code == 302, resp.content.decode()[-2000:]
    s = FineTuneSchedule.objects.get(name="weekly")
    assert s.periodic_task.crontab.day_of_week == "sun" and s.created_by == admin_user
    bad = client.post("/admin/workers/finetuneschedule/add/", {**data, "name": "bad", "config": '{"betta": 1}'})
    assert bad.status_code == 200 and b"betta is not a training field" in bad.content
    client.post(f"/admin/workers/finetuneschedule/{s.pk}/delete/", {"post": "yes"})
    assert not PeriodicTask.objects.filter(task=schedules.TASK_NAME).exists()
    assert client.get("/admin/workers/latentpreference/").status_code == 200
    assert client.get("/admin/workers/finetunerun/").status_code == 200


def test_a_schedule_with_nothing_to_freeze_says_so(project, tmp_path):
    s = make_schedule(project, wh.model_spec(tmp_path), min_new_labels=0)
    outcome, ft = schedule_tasks.fire(s.pk, force=True)
    assert ft is None and outcome.startswith("failed: Nothing to freeze")
    assert not Snapshot.objects.filter(project=project).exists()
    s.refresh_from_db()
    assert s.last_outcome == outcome
