"""The task base every run-shaped Celery task uses, plus the stale-run sweeper.

    @run_task(queue="gpu")
    def finetune(run): ...          # a service call; returns final metrics (or None)

gives a Celery task `finetune(run_id)` that is
- acks_late + reject_on_worker_lost: a worker killed mid-task leaves the message unacknowledged,
  so the broker hands it to another worker (Redis: after `visibility_timeout`);
- claimed atomically (workers.runs.claim_run): a duplicate delivery while a live worker holds the
  run is put back for later, a redelivery of a finished run is a no-op, a run whose worker stopped
  heart-beating is taken over;
- retried with exponential backoff on transient errors (database or broker connection trouble);
- recorded: state, attempts, worker, heartbeat, error with traceback, cancellation.
(Database connections: Celery's Django fixup closes stale ones around every task.)
Services are written to be re-run: they check what is already done (rows per run, artifact dirs
wiped before training) so a retry or takeover never duplicates output.
"""

import contextlib
import functools
import logging
import os
import socket
import threading
import traceback
from dataclasses import dataclass, field

import kombu.exceptions
import redis.exceptions
from celery import bootsteps, current_app, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from annotate.errors import Retryable
from workers import runs
from workers.models import RunState, TaskRun

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    Retryable,  # a service's own transient failures (annotate.errors), e.g. an LM endpoint's rate limit
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
MAX_RETRIES = 6


def backoff(retries, base=2.0, cap=300.0):
    return min(cap, base * 2**retries)


class _Heartbeat(threading.Thread):
    """Touches the run row every few seconds while the service works (long steps included)."""

    def __init__(self, run):
        super().__init__(daemon=True, name=f"heartbeat-{run.pk}")
        self.task_run, self.stopped = run, threading.Event()

    def run(self):  # threading.Thread's entry point
        try:
            while not self.stopped.wait(runs.heartbeat_seconds()):
                try:
                    runs.heartbeat(self.task_run)
                except Exception:  # a missed beat is harmless; the next one retries
                    logger.warning("heartbeat for run %s failed", self.task_run.pk, exc_info=True)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()


def execute(task, service, run_id):
    """Claim the run, call the service, record the outcome. Returns the final state. A service's own
    transient trouble is declared by raising `annotate.errors.Retryable` (part of TRANSIENT_ERRORS)."""
    worker = getattr(task.request, "hostname", None) or socket.gethostname()
    claim = runs.claim_run(run_id, worker=worker, celery_task_id=task.request.id or "")
    run, outcome = claim.run, claim.outcome
    if outcome == runs.FINISHED or run is None:  # no run: always FINISHED
        return run.state if run else "missing"
    if outcome == runs.BUSY:
        # Another worker is alive and on it; look again later so the run is not lost if it dies.
        raise task.retry(countdown=runs.stale_seconds(), max_retries=None)
    beat = None if settings.CELERY_TASK_ALWAYS_EAGER else _Heartbeat(run)
    if beat:
        beat.start()
    try:
        result = service(run)
    except runs.RunCancelled:
        runs.log(run, "cancelled")
        return runs.finish_run(run, state=RunState.CANCELLED).state
    except runs.RunFailed as exc:
        runs.log(run, f"failed: {exc}")
        run.refresh_from_db(fields=["metrics"])
        return runs.finish_run(run, state=RunState.FAILED, error=str(exc), metrics={**run.metrics, **exc.metrics}).state
    except TRANSIENT_ERRORS as exc:
        # In-process (CELERY_TASK_ALWAYS_EAGER, the test settings) a Retryable fails the run now, and a
        # re-run resumes, rather than retrying inline with the request waiting.
        in_process = settings.CELERY_TASK_ALWAYS_EAGER and isinstance(exc, Retryable)
        if in_process or task.request.retries >= MAX_RETRIES:
            return _fail(run, exc)
        logger.warning("run %s: transient error, retrying: %r", run_id, exc)
        try:
            runs.release_run(run, error=f"retrying after: {exc!r}")
        except Exception:
            logger.warning("could not release run %s", run_id, exc_info=True)
        raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc
    except Exception as exc:
        return _fail(run, exc)
    finally:
        if beat:
            beat.stop()
    metrics = None
    if result:
        run.refresh_from_db(fields=["metrics"])
        metrics = {**run.metrics, **result}
    return runs.finish_run(run, metrics=metrics).state  # one write: state and final metrics


def _fail(run, exc):
    logger.exception("run %s failed", run.pk)
    trace = traceback.format_exc()
    with contextlib.suppress(Exception):
        runs.log(run, f"failed: {exc!r}")
    return runs.finish_run(run, state=RunState.FAILED, error=trace[-4000:]).state


def run_task(queue="cpu", **options):
    """Decorator: turn a service `f(run)` into a Celery task `f(run_id)` with the run bookkeeping.
    Transient trouble (a judge server still rate-limiting after its client's retries) is retried
    with backoff when the service raises a `Retryable` (or another of TRANSIENT_ERRORS)."""

    def decorate(service):
        name = f"{service.__module__}.{service.__name__}"

        @shared_task(
            bind=True,
            name=name,
            queue=queue,
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=MAX_RETRIES,
            **options,
        )
        @functools.wraps(service)
        def task(self, run_id):
            return execute(self, service, run_id)

        task.service = service
        return task

    return decorate


BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, ConnectionError)


def enqueue(task, run):
    """Record which task runs `run` (so the sweeper and "Retry" can re-send it) and send it.
    When the queue cannot be reached the run is marked failed with the reason, never left
    `queued` with no message behind it; returns None then."""
    TaskRun.objects.filter(pk=run.pk).update(task_name=task.name)
    run.task_name = task.name
    try:
        return task.apply_async(args=[run.pk])
    except BROKER_ERRORS as exc:
        logger.error("could not queue run %s: %r", run.pk, exc)
        runs.finish_run(
            run, state=RunState.FAILED, error=f"could not reach the task queue: {exc!r}. Retry the run when it is back."
        )
        return None


@dataclass
class Sweep:
    """What one sweep did with the runs whose worker stopped heart-beating."""

    requeued: list[int] = field(default_factory=list)  # sent to the queue again
    cancelled: list[int] = field(default_factory=list)  # a cancel was asked for: ended, not re-run
    failed: list[int] = field(default_factory=list)  # no task to re-send it with: ended with the reason


def sweep(app=None) -> Sweep:
    """Deal with every run left `running` by a worker that is gone (killed, OOM, machine lost).

    The broker redelivers unacknowledged messages on its own where it can (Redis, acks_late); this
    covers what it cannot: a message lost with a broker restart, a visibility timeout set very long,
    and the embedded SQLite broker, which never redelivers a taken message. Each run changes state
    in one conditional UPDATE, so two sweepers at once act on it once; a run re-queued twice is
    harmless anyway (the second delivery finds it claimed or finished)."""
    app = app or current_app
    done = Sweep()
    for run in runs.stale_runs():
        if run.cancel_requested:
            if runs.stale_runs().filter(pk=run.pk).update(state=RunState.CANCELLED, finished_at=timezone.now()):
                done.cancelled.append(run.pk)
        elif not run.task_name:
            if (
                runs.stale_runs()
                .filter(pk=run.pk)
                .update(
                    state=RunState.FAILED,
                    finished_at=timezone.now(),
                    error="its worker stopped and the run names no task to re-send it with; start it again",
                )
            ):
                done.failed.append(run.pk)
        elif runs.stale_runs().filter(pk=run.pk).update(state=RunState.QUEUED):
            task = app.tasks.get(run.task_name)
            if task is not None:
                task.apply_async(args=[run.pk])
            else:  # a task this process does not import: send it by name to its default queue
                app.send_task(run.task_name, args=[run.pk])
            done.requeued.append(run.pk)
    return done


@shared_task(name="workers.tasks.runs.sweep_stale_runs", queue="cpu")
def sweep_stale_runs():
    """The sweep as a task, for celery beat (every worker also sweeps on its own timer)."""
    return sweep().requeued


def sweep_seconds():
    return float(os.environ.get("TANDEM_RUN_SWEEP_SECONDS", "30"))


class StaleRunSweeper(bootsteps.StartStopStep):
    """A worker bootstep: sweep every `TANDEM_RUN_SWEEP_SECONDS` in a thread of the worker's main
    process, so runs never stay stuck where no celery beat runs (the embedded default).
    Registered in config/celery.py; a thread rather than the worker's timer, so a solo-pool worker
    busy with a long task still sweeps."""

    label = "stale-run sweeper"

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.stopped, self.thread = threading.Event(), None

    def start(self, parent):
        self.thread = threading.Thread(target=self._loop, args=(parent.app,), daemon=True, name="stale-run-sweeper")
        self.thread.start()

    def stop(self, parent):
        self.stopped.set()

    def _loop(self, app):
        while not self.stopped.wait(sweep_seconds()):
            try:
                done = sweep(app)
                if done.requeued or done.cancelled or done.failed:
                    logger.warning("stale runs: %s", done)
            except Exception:  # the database may be briefly away; the next sweep retries
                logger.warning("stale-run sweep failed", exc_info=True)
            finally:
                connection.close()
