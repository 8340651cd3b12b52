"""Run bookkeeping and the task base, in-process (the real worker is in test_celery_worker.py)."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from annotate.errors import Retryable
from workers import runs
from workers.models import RunKind, RunState, TaskRun
from workers.tasks.runs import backoff, execute, run_task, sweep_stale_runs

pytestmark = pytest.mark.django_db

CALLS = []


@run_task(queue="cpu")
def _ok(run):
    CALLS.append(run.pk)
    runs.set_progress(run, 1, 2)
    runs.log(run, "half way")
    runs.set_progress(run, 2)
    return {"answer": 42}


@run_task(queue="gpu")
def _boom(run):
    raise ValueError("bad input: no rows")


@run_task()
def _cancel_me(run):
    runs.request_cancel(run)
    runs.set_progress(run, 1, 10)
    raise AssertionError("set_progress should have raised")


FLAKY = {"left": 0}


@run_task()
def _flaky(run):
    if FLAKY["left"]:
        FLAKY["left"] -= 1
        raise OperationalError("server closed the connection unexpectedly")
    return {"ok": True}


def make_run(**kw):
    return runs.create_run(RunKind.GENERATE, **kw)


def test_task_options():
    assert _ok.acks_late and _ok.reject_on_worker_lost
    assert _ok.queue == "cpu" and _boom.queue == "gpu"
    assert backoff(0) == 2 and backoff(3) == 16 and backoff(20) == 300


def test_successful_run_records_state_progress_metrics_log(project):
    run = make_run(project=project)
    assert _ok.delay(run.pk).get() == RunState.SUCCEEDED
    run.refresh_from_db()
    assert (run.state, run.progress, run.total, run.attempts) == ("succeeded", 2, 2, 1)
    assert run.metrics == {"answer": 42} and "half way" in run.log_tail
    assert run.started_at and run.finished_at and run.heartbeat_at and run.percent == 100


def test_redelivered_message_for_finished_run_is_a_no_op(project):
    run = make_run(project=project)
    _ok.delay(run.pk)
    CALLS.clear()
    assert _ok.delay(run.pk).get() == RunState.SUCCEEDED
    assert CALLS == []
    run.refresh_from_db()
    assert run.attempts == 1


def test_failure_recorded_with_traceback(project):
    run = make_run(project=project)
    assert _boom.delay(run.pk).get() == RunState.FAILED
    run.refresh_from_db()
    assert run.state == "failed" and "bad input: no rows" in run.error and "Traceback" in run.error


def test_cancel_running_and_queued(project):
    run = make_run(project=project)
    assert _cancel_me.delay(run.pk).get() == RunState.CANCELLED
    queued = make_run(project=project)
    runs.request_cancel(queued)
    queued.refresh_from_db()
    assert queued.state == "cancelled"
    CALLS.clear()
    _ok.delay(queued.pk)
    assert CALLS == []  # a cancelled run's message does nothing


def test_transient_errors_retry_then_succeed(project, monkeypatch):
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_eager_propagates", False)  # let eager apply() run the retries
    FLAKY["left"] = 2
    run = make_run(project=project)
    _flaky.apply(args=[run.pk], throw=False)  # eager apply runs the retries in-process
    run.refresh_from_db()
    assert run.state == "succeeded" and run.attempts == 3 and run.metrics == {"ok": True}


class _ServerBusy(Retryable):
    """A service's own transient error, declared retryable (as a judge's TransientBackendError is)."""


class _Broken(Exception):
    """Not declared retryable: the run fails at once."""


def test_errors_a_service_declares_retryable_are_retried_on_a_worker(project, settings):
    from celery.exceptions import Retry

    class Req:
        hostname, id, retries = "w", "t", 0

    class FakeTask:  # only the request/retry surface of a bound task
        request = Req()

        def retry(self, **kw):
            return Retry("later", when=kw.get("countdown"))

    def busy(run):
        raise _ServerBusy("rate limited")

    def broken(run):
        raise _Broken("rate limited")

    settings.CELERY_TASK_ALWAYS_EAGER = False
    run = make_run(project=project)
    with pytest.raises(Retry):
        execute(FakeTask(), busy, run.pk)
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and "rate limited" in run.error  # released for the retry
    undeclared = make_run(project=project)
    assert execute(FakeTask(), broken, undeclared.pk) == RunState.FAILED
    settings.CELERY_TASK_ALWAYS_EAGER = True  # in-process: fail now, a re-run resumes
    eager = make_run(project=project)
    assert execute(FakeTask(), busy, eager.pk) == RunState.FAILED


def test_claim_rules(project):
    run = make_run(project=project)
    claim = runs.claim_run(run.pk, worker="w1")
    claimed, outcome = claim.run, claim.outcome
    assert outcome == runs.CLAIMED and claimed.worker == "w1"
    # a duplicate delivery while w1 is alive does not take it
    assert runs.claim_run(run.pk, worker="w2").outcome == runs.BUSY
    # w1 stops heart-beating (killed): w2 takes over
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=runs.stale_seconds() + 1))
    claim = runs.claim_run(run.pk, worker="w2")
    taken, outcome = claim.run, claim.outcome
    assert outcome == runs.CLAIMED and taken.worker == "w2" and taken.attempts == 2
    runs.finish_run(taken)
    assert runs.claim_run(run.pk, worker="w3").outcome == runs.FINISHED


def test_busy_run_is_retried_later_not_dropped(project):
    from celery.exceptions import Retry

    run = make_run(project=project)
    runs.claim_run(run.pk, worker="alive")

    class Req:
        hostname, id, retries = "w2", "t", 0

    class FakeTask:  # only the request/retry surface of a bound task
        request = Req()

        def retry(self, **kw):
            return Retry("later", when=kw.get("countdown"))

    with pytest.raises(Retry):
        execute(FakeTask(), lambda r: {"x": 1}, run.pk)


def test_sweeper_requeues_runs_of_dead_workers(project):
    run = make_run(project=project)
    TaskRun.objects.filter(pk=run.pk).update(task_name=_ok.name)
    runs.claim_run(run.pk, worker="dead")
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh = make_run(project=project)
    runs.claim_run(fresh.pk, worker="alive")
    assert sweep_stale_runs() == [run.pk]  # eager: the re-sent task runs right away
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.state == "succeeded" and run.attempts == 2
    assert fresh.state == "running"


def test_artifacts_listing(project, artifacts_dir):
    run = make_run(project=project)
    assert runs.artifacts(run) == []
    (runs.run_dir(run) / "sub").mkdir(parents=True)
    (runs.run_dir(run) / "sub" / "a.txt").write_text("hi")
    assert runs.artifacts(run) == [("sub/a.txt", 2)]


from tests.workers_helpers import artifacts_dir  # noqa: E402,F401


def test_heartbeat_thread_keeps_a_long_run_alive(transactional_db, monkeypatch):
    import time

    from workers.tasks.runs import _Heartbeat

    monkeypatch.setenv("TANDEM_RUN_HEARTBEAT_SECONDS", "0.05")
    run = make_run()
    runs.claim_run(run.pk, worker="w1")
    old = timezone.now() - timedelta(hours=1)
    TaskRun.objects.filter(pk=run.pk).update(heartbeat_at=old)
    beat = _Heartbeat(run)
    beat.start()
    time.sleep(0.5)
    beat.stop()
    beat.join(5)
    run.refresh_from_db()
    assert run.heartbeat_at > old + timedelta(minutes=59)
    assert runs.claim_run(run.pk, worker="w2").outcome == runs.BUSY


def test_queues():
    from config.celery import app
    from workers.tasks.edits import infer_preferences
    from workers.tasks.finetune import finetune
    from workers.tasks.generation import generate_candidates
    from workers.tasks.rationales import generate_rationales
    from workers.tasks.schedules import run_schedule

    def queue_of(task):
        return app.amqp.router.route(task._get_exec_options(), task.name)["queue"].name

    assert {queue_of(t) for t in (finetune, generate_rationales, generate_candidates, infer_preferences)} == {"gpu"}
    assert queue_of(run_schedule) == "cpu" and queue_of(sweep_stale_runs) == "cpu"
    assert app.amqp.router.route({}, finetune.name)["queue"].name == "gpu"  # sent by name


def test_record_is_one_tick(project, django_assert_num_queries):
    run = make_run(project=project)
    runs.claim_run(run.pk, worker="w")
    run.refresh_from_db()
    with django_assert_num_queries(2):  # one UPDATE, one cancel check
        runs.record(
            run, progress=3, total=9, metrics={"history": [{"step": 3, "loss": 0.5}]}, lines=["step 3", "step 3b"]
        )
    run.refresh_from_db()
    assert (run.progress, run.total, run.metrics["history"][0]["loss"]) == (
        3,
        9,
        0.5,
    ) and run.log_tail == "step 3\nstep 3b\n"
    runs.request_cancel(run)
    with pytest.raises(runs.RunCancelled):
        runs.record(run, progress=4)


def test_unreachable_queue_fails_the_run_with_the_reason(project):
    """A real broker URL nobody listens on: the run is marked failed, not left queued forever."""
    from config.celery import app

    keys = ("task_always_eager", "broker_url", "task_publish_retry", "broker_connection_timeout")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:1/0",
        task_publish_retry=False,
        broker_connection_timeout=1,
    )
    app._pool, app.amqp._producer_pool = None, None  # pools made for the in-process (eager) runs
    try:
        run = make_run(project=project)
        from workers.tasks.runs import enqueue

        assert enqueue(_ok, run) is None
    finally:
        app.conf.update(saved)
        app._pool, app.amqp._producer_pool = None, None
    run.refresh_from_db()
    assert run.state == "failed" and "could not reach the task queue" in run.error and run.task_name == _ok.name


def test_judging_with_no_reply_parsed_fails_with_counts(project, settings):
    """100 % unparsed replies is not a success: the run fails and says how many parsed; one judge
    whose replies parse makes the run a success again."""
    from annotate.models import Annotation, AnnotationStatus, LMJudge
    from tests import factories
    from tests.judging_helpers import ScriptedServer
    from workers.tasks.judging import start_judging

    settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1"]  # the scripted server is local
    items = [factories.item(project, text_a=f"A{i}", text_b=f"B{i}") for i in range(3)]
    with ScriptedServer(lambda body: (200, "I cannot decide, they are both fine.")) as server:
        judge = LMJudge.objects.create(
            name="chatty", backend="openai", model="m", base_url=server.base_url, parameters={"retry_backoff": 0.01}
        )
        judge.projects.add(project)
        (run,) = start_judging(project)
    assert run.state == RunState.FAILED
    assert "chatty: 0 parsed, 3 unparsed" in run.error and "Traceback" not in run.error
    assert run.metrics["judges"]["chatty"]["unparsed"] == 3  # the counts stay on the run
    assert Annotation.objects.filter(item__in=items, status=AnnotationStatus.UNPARSED).count() == 3
    factories.item(project, text_a="A9", text_b="B9")
    with ScriptedServer(lambda body: (200, '{"verdict": 1, "rationale": "ok"}')) as server:
        LMJudge.objects.filter(pk=judge.pk).update(base_url=server.base_url)
        (again,) = start_judging(project)
    assert again.state == RunState.SUCCEEDED and again.metrics["judges"]["chatty"]["ok"] == 1


def test_sweep_ends_stale_runs_it_cannot_or_must_not_rerun(project):
    """A stale run whose cancel was asked for ends cancelled (not re-run); one that names no task
    ends failed with the reason (it cannot be re-sent); neither stays `running`."""
    from workers.tasks.runs import sweep

    asked = make_run(project=project)
    TaskRun.objects.filter(pk=asked.pk).update(task_name=_ok.name)
    orphan = make_run(project=project)
    for run in (asked, orphan):
        runs.claim_run(run.pk, worker="dead")
    runs.request_cancel(asked)
    TaskRun.objects.filter(pk__in=[asked.pk, orphan.pk]).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    CALLS.clear()
    done = sweep()
    assert (done.requeued, done.cancelled, done.failed) == ([], [asked.pk], [orphan.pk])
    asked.refresh_from_db()
    orphan.refresh_from_db()
    assert asked.state == "cancelled" and asked.finished_at and CALLS == []
    assert orphan.state == "failed" and "names no task" in orphan.error
    assert sweep() == type(done)()  # nothing left to do


def test_every_worker_runs_the_sweeper():
    from config.celery import app
    from workers.tasks.runs import StaleRunSweeper

    steps = {s if isinstance(s, str) else f"{s.__module__}:{s.__name__}" for s in app.steps["worker"]}
    assert f"{StaleRunSweeper.__module__}:{StaleRunSweeper.__name__}" in steps


def test_routing_stops_at_its_cancel_point(project):
    """A running routing run whose cancel was asked for stops before the fit and writes no routing run."""
    from curation.models import RoutingRun
    from workers.tasks.routing import route

    run = runs.create_run(RunKind.ROUTE, project=project, params={"budget": 0.5, "strategy": "router"})
    runs.claim_run(run.pk, worker="w1")
    runs.request_cancel(run)
    run.refresh_from_db()
    assert run.state == "running" and run.cancel_requested  # a running run stops at its next check
    with pytest.raises(runs.RunCancelled):
        route.service(run)
    assert not RoutingRun.objects.filter(project=project).exists()


def test_unwritable_embedded_broker_fails_the_run_with_the_reason(project, tmp_path):
    """The embedded SQLite broker in a place it cannot be written: the run fails with the reason."""
    from config.celery import app
    from workers.tasks.runs import enqueue

    keys = ("task_always_eager", "broker_url", "task_publish_retry", "broker_transport_options")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(
        task_always_eager=False,
        broker_url=f"sqla+sqlite:///{tmp_path}/missing-dir/broker.sqlite3",
        task_publish_retry=False,
        broker_transport_options={},
    )
    app._pool, app.amqp._producer_pool = None, None
    try:
        run = make_run(project=project)
        assert enqueue(_ok, run) is None
    finally:
        app.conf.update(saved)
        app._pool, app.amqp._producer_pool = None, None
    run.refresh_from_db()
    assert run.state == "failed" and "could not reach the task queue" in run.error
