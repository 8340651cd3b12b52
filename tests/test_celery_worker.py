"""Every task kind through a real `celery worker` subprocess on Redis (DB 5) and the test PostgreSQL
database, and crash recovery: a worker SIGKILLed mid-run, the run finished by another worker."""

import time

import pytest

from tests import celery_worker as cw
from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers.models import Rationale, TaskRun

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def needs_postgres():
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a worker subprocess needs a database it can share: PostgreSQL")


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        cw.flush_broker()
        w = cw.Worker(tmp_path_factory.mktemp("artifacts"), "shared").wait_ready()
    yield w
    w.stop()


@pytest.fixture
def client():
    return cw.producer()


def wait_finished(run, timeout=120, worker=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run.refresh_from_db()
        if run.finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.state} after {timeout}s\n{worker.output() if worker else ''}")


def wait_progress(run, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run.refresh_from_db()
        if run.progress >= at_least or run.finished:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} made no progress")


def test_rationale_run_through_worker(transactional_db, worker, client, tiny_model_dir):
    from workers import rationales
    from workers.tasks.rationales import generate_rationales

    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=4, binary=2, edits=1)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), max_new_tokens=6)
    cw.send(client, generate_rationales, run)
    run = wait_finished(run, worker=worker)
    assert run.state == "succeeded", run.error
    assert run.worker.startswith("shared@") and run.attempts == 1
    assert Rationale.objects.filter(run=run).count() == 7


def test_sigkilled_worker_run_finished_by_another(transactional_db, tmp_path, client, tiny_model_dir):
    """acks_late + reject_on_worker_lost: the killed worker never acknowledged the message, Redis
    hands it to the next worker after the visibility timeout, the stale heartbeat lets it take the
    run over, and the service skips the items already explained: no duplicates."""
    from workers import rationales
    from workers.tasks.rationales import generate_rationales

    cw.flush_broker()
    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=120, binary=0, edits=0)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), batch_size=2, max_new_tokens=24)
    # a queue of its own, so the module's shared worker stays out of it
    first = cw.Worker(tmp_path, "first", queues="crash-test").wait_ready()
    try:
        cw.send(client, generate_rationales, run, queue="crash-test")
        wait_progress(run, 6)
        first.kill()
    finally:
        first.stop()
    run.refresh_from_db()
    assert run.state == "running" and 0 < run.progress < 120, "kill the worker mid-run"
    first_started = run.started_at
    before = {r.pk: (r.item_id, r.text, r.created_at) for r in Rationale.objects.filter(run=run)}
    assert len(before) >= 6
    second = cw.Worker(tmp_path, "second", queues="crash-test").wait_ready()
    try:
        run = wait_finished(run, worker=second)
    finally:
        second.stop()
    assert run.state == "succeeded", run.error
    assert run.worker.startswith("second@") and run.attempts == 2 and run.started_at > first_started
    # The unique (item, run) constraint alone would hide a service that redid everything (its
    # second writes would be silently ignored), so check what it could get wrong instead:
    # the first attempt's rows are kept as they were, and the second attempt explained only the rest.
    after = {r.pk: (r.item_id, r.text, r.created_at) for r in Rationale.objects.filter(run=run)}
    assert {pk: after.get(pk) for pk in before} == before
    assert f"{120 - len(before)} of 120 items to explain" in run.log_tail  # the resumed attempt's plan
    new_rows = Rationale.objects.filter(run=run).exclude(pk__in=before)
    assert new_rows.count() == 120 - len(before) and not new_rows.filter(created_at__lt=run.started_at).exists()
    assert sorted(item for item, _, _ in after.values()) == sorted(snap.rows.values_list("item_id", flat=True))
    assert run.progress == run.total == 120


def test_finetune_run_through_worker(transactional_db, worker, client, tiny_model_dir, settings, tmp_path):
    from pathlib import Path

    from workers import finetune
    from workers.tasks.finetune import finetune as task

    settings.ARTIFACTS_DIR = tmp_path
    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=8, binary=0, edits=0)
    ft = finetune.create_finetune(
        snap,
        wh.model_spec(tiny_model_dir),
        "dpo",
        lora={"r": 4},
        config={"per_device_train_batch_size": 4, "max_length": 64},
    )
    cw.send(client, task, ft.run)
    run = wait_finished(ft.run, worker=worker)
    assert run.state == "succeeded", run.error
    assert run.progress == run.total > 0 and run.metrics["history"] and "evaluation" in run.metrics
    assert (Path(ft.output_dir) / "model" / "adapter_model.safetensors").exists()


def test_generation_and_preferences_through_worker(transactional_db, worker, client, tiny_model_dir):
    from annotate.models import Item, Response
    from tests import curation_data
    from workers import generation, latent_prefs
    from workers.models import LatentPreference
    from workers.tasks.edits import infer_preferences
    from workers.tasks.generation import generate_candidates

    project = wh.factories.project()
    alice = curation_data.person(project, "alice")
    for i in range(3):
        item = wh.factories.item(project, kind="edit", text_a=f"A long draft answer {i}.")
        curation_data.label(item, alice, edited_text=f"Short {i}.")
    spec = wh.model_spec(tiny_model_dir)
    prefs = latent_prefs.start_inference_run(project, spec, max_new_tokens=6)
    cw.send(client, infer_preferences, prefs)
    assert wait_finished(prefs, worker=worker).state == "succeeded", prefs.error
    assert LatentPreference.objects.filter(annotator=alice).count() == 3
    gen = generation.start_generation_run(
        project, spec, item_kind="pairwise", max_new_tokens=6, preference_annotator=alice
    )
    cw.send(client, generate_candidates, gen)
    assert wait_finished(gen, worker=worker).state == "succeeded", gen.error
    assert Response.objects.filter(metadata__run=gen.pk).count() == 3
    assert Item.objects.filter(metadata__generated_by_run=gen.pk, kind="pairwise").count() == 3


def test_schedule_fires_through_worker(transactional_db, worker, client, tiny_model_dir):
    """Beat's task on the cpu queue freezes a snapshot and queues the fine-tune on the gpu queue."""
    from tests import curation_data
    from workers import schedules
    from workers.models import FineTuneRun, FineTuneSchedule
    from workers.tasks.schedules import run_schedule

    project = wh.factories.project()
    curation_data.labelled_project(project, pairs=8, binaries=0, edits=0, annotators=2)
    s = schedules.save_schedule(
        FineTuneSchedule(
            project=project,
            name="nightly",
            min_new_labels=5,
            method="dpo",
            model_spec=wh.model_spec(tiny_model_dir),
            config={"per_device_train_batch_size": 4, "max_length": 64},
        )
    )
    client.send_task(run_schedule.name, args=[s.pk], queue="cpu")
    deadline = time.time() + 120
    while not FineTuneRun.objects.filter(snapshot__project=project).exists() and time.time() < deadline:
        time.sleep(0.2)
    ft = FineTuneRun.objects.get(snapshot__project=project)
    assert wait_finished(ft.run, worker=worker).state == "succeeded", ft.run.error
    s.refresh_from_db()
    assert s.last_outcome.startswith("fired: 16 new labels") and s.last_run_id == ft.run_id


def test_sweeper_requeues_run_of_dead_worker(transactional_db, worker, client, tiny_model_dir):
    """A run left `running` by a worker that is gone (and whose message is gone too) is re-queued
    by the sweeper and finished by a live worker."""
    from datetime import timedelta

    from django.utils import timezone

    from workers import rationales, runs
    from workers.tasks.rationales import generate_rationales
    from workers.tasks.runs import sweep_stale_runs

    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=3, binary=0, edits=0)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), max_new_tokens=4)
    TaskRun.objects.filter(pk=run.pk).update(task_name=generate_rationales.name)
    runs.claim_run(run.pk, worker="ghost@gone")
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    client.send_task(sweep_stale_runs.name, queue="cpu")
    run = wait_finished(run, worker=worker)
    assert run.state == "succeeded" and run.attempts == 2 and run.worker.startswith("shared@")
    assert Rationale.objects.filter(run=run).count() == 3


def test_duplicate_delivery_does_not_run_twice(transactional_db, tmp_path, client, tiny_model_dir):
    """The same run delivered to two live workers at once (a visibility timeout shorter than the
    task, a double click): one works, the other sees a fresh heartbeat and backs off; no doubles."""
    from workers import rationales
    from workers.tasks.rationales import generate_rationales

    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=60, binary=0, edits=0)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), batch_size=2, max_new_tokens=24)
    workers = [cw.Worker(tmp_path, name, queues="dup-test").wait_ready() for name in ("one", "two")]
    try:
        cw.send(client, generate_rationales, run, queue="dup-test")
        cw.send(client, generate_rationales, run, queue="dup-test")
        run = wait_finished(run, worker=workers[0])
        time.sleep(6)  # let the backed-off copy come back, find the run finished and stop
    finally:
        for w in workers:
            w.stop()
    assert run.state == "succeeded" and run.attempts == 1
    per_item = list(Rationale.objects.filter(run=run).values_list("item_id", flat=True))
    assert len(per_item) == len(set(per_item)) == 60
    logs = workers[0].output() + workers[1].output()
    assert "Retry in" in logs  # the second delivery backed off instead of running


def test_sigkilled_finetune_retried_into_one_result(transactional_db, tmp_path, client, tiny_model_dir, settings):
    """A worker SIGKILLed mid-training leaves only a `.partial` directory and no registered model;
    the retried run, on another worker, ends with exactly one artifact directory (renamed into place
    whole) and one registered model that loads."""
    import json

    from transformers import AutoModelForCausalLM

    from workers import finetune
    from workers.models import FineTuneRun, ModelSpec
    from workers.tasks.finetune import finetune as task

    cw.flush_broker()
    artifacts = settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=40, binary=0, edits=0)
    ft = finetune.create_finetune(
        snap,
        wh.model_spec(tiny_model_dir),
        "dpo",
        config={"per_device_train_batch_size": 1, "max_length": 64, "num_train_epochs": 4},
    )
    run = ft.run
    options = {"queues": "crash-ft", "log_dir": tmp_path / "logs", "TANDEM_PROGRESS_INTERVAL": 0}
    first = cw.Worker(artifacts, "ft-first", **options).wait_ready()
    try:
        cw.send(client, task, run, queue="crash-ft")
        wait_progress(run, 3, timeout=300)
        first.kill()
    finally:
        first.stop()
    run.refresh_from_db()
    assert run.state == "running" and 0 < run.progress < run.total, "kill the worker mid-training"
    assert [p.name for p in artifacts.iterdir()] == [f"{run.pk}.attempt-1.partial"]  # never taken for a result
    assert not ModelSpec.objects.filter(path_or_id__startswith=str(artifacts)).exists()
    second = cw.Worker(artifacts, "ft-second", **options).wait_ready()
    try:
        run = wait_finished(run, timeout=600, worker=second)
    finally:
        second.stop()
    assert run.state == "succeeded", run.error
    assert run.attempts == 2 and run.worker.startswith("ft-second@") and run.progress == run.total
    result = artifacts / str(run.pk)
    assert [p.name for p in artifacts.iterdir()] == [str(run.pk)]  # one directory: the partial one is gone
    assert json.loads((result / "metrics.json").read_text())["steps"] == run.total
    registered = ModelSpec.objects.filter(path_or_id__startswith=str(artifacts))
    assert registered.count() == 1 and registered.get().path_or_id == str(result / "model")
    assert FineTuneRun.objects.get(pk=ft.pk).result_spec == registered.get()
    assert AutoModelForCausalLM.from_pretrained(registered.get().path_or_id).config.model_type == "llama"


def test_worker_sweeps_stale_runs_without_beat(transactional_db, tmp_path, tiny_model_dir):
    """No beat and no message: a run a dead worker left `running` is re-sent by the live worker's own
    sweeper (its bootstep) and finished."""
    from datetime import timedelta

    from django.utils import timezone

    from workers import rationales, runs
    from workers.tasks.rationales import generate_rationales

    project = wh.factories.project()
    snap = wh.snapshot(project, pairs=3, binary=0, edits=0)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), max_new_tokens=4)
    TaskRun.objects.filter(pk=run.pk).update(task_name=generate_rationales.name)
    runs.claim_run(run.pk, worker="ghost@gone")
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    sweeper = cw.Worker(tmp_path, "sweeper", TANDEM_RUN_SWEEP_SECONDS=1).wait_ready()
    try:
        run = wait_finished(run, worker=sweeper)
    finally:
        sweeper.stop()
    assert run.state == "succeeded" and run.attempts == 2 and run.worker != "ghost@gone"
    assert Rationale.objects.filter(run=run).count() == 3
