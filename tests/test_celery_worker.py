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
    written_before = Rationale.objects.filter(run=run).count()
    second = cw.Worker(tmp_path, "second", queues="crash-test").wait_ready()
    try:
        run = wait_finished(run, worker=second)
    finally:
        second.stop()
    assert run.state == "succeeded", run.error
    assert run.worker.startswith("second@") and run.attempts == 2
    per_item = Rationale.objects.filter(run=run).values_list("item_id", flat=True)
    assert len(per_item) == len(set(per_item)) == 120
    assert written_before >= 6
    assert TaskRun.objects.get(pk=run.pk).progress == 120
