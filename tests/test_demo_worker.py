"""`./tandem demo` end to end on the embedded default: SQLite, the SQLite broker (kombu's SQLAlchemy
transport) and the real worker the script starts beside the server. A job's request returns at
once, the job runs in the worker, Cancel ends a queued run, the worker's own sweeper finishes a run
a dead worker left behind (no celery beat), the dashboard figures the worker computes reach the
page, and CTRL-C stops the server and the worker."""

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from tests.demo_client import Browser

pytestmark = [pytest.mark.celery_worker, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parent.parent
FINISHED = ("succeeded", "failed", "cancelled")

SETUP = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from annotate.models import Membership
from tests import factories
from workers import runs
from workers.models import ModelSpec, RunKind, TaskRun
project = factories.project("Tiny")
Membership.objects.create(project=project, user=get_user_model().objects.get(username="manager"), role="manager")
for i in range(2):
    factories.item(project, kind="binary", text_a=f"Draft answer {i}.")
spec = ModelSpec.objects.get(name="tiny-demo-llama")
ghost = runs.create_run(RunKind.GENERATE, project=project, task_name="workers.tasks.generation.generate_candidates",
                        params={"model_spec_id": spec.pk, "prompt_ids": list(project.prompts.values_list("pk", flat=True)),
                                "n": 1, "item_kind": "binary", "max_new_tokens": 8, "temperature": 0.0, "batch_size": 8,
                                "instruction": "", "preference_annotator_id": None})
runs.claim_run(ghost.pk, worker="ghost@gone")
TaskRun.objects.filter(pk=ghost.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
print("SETUP", project.pk, ghost.pk)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    """{pid: command line} of the direct children of `pid`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def interruptible():
    """CTRL-C reaches `./tandem demo` as at a terminal. A shell that starts with SIGINT ignored cannot
    trap it, and a background job of a non-interactive shell (`./tandem test &` in a script, some CI
    runners) starts every child so: without this the demo would ignore the test's CTRL-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(check, timeout, what, log):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout}s:\n{log.read_text(errors='replace')[-5000:]}")


def paused(pgid, *databases):
    """SIGSTOP the worker's process group at a moment it holds no SQLite write lock (it polls the
    broker file every second), so the server can still queue work while it sleeps."""
    for _ in range(50):
        os.killpg(pgid, signal.SIGSTOP)
        try:
            for db in databases:
                with sqlite3.connect(db, timeout=0.2) as conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.rollback()
            return
        except sqlite3.OperationalError:  # stopped inside a write: let it finish, try again
            os.killpg(pgid, signal.SIGCONT)
            time.sleep(0.3)
    raise AssertionError("could not pause the worker outside a write")


def test_demo_runs_jobs_in_its_supervised_worker(tmp_path):
    var, port, log = tmp_path / "var", free_port(), tmp_path / "demo.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "REDIS_CACHE_URL",
            "DJANGO_SETTINGS_MODULE",
        )
    }
    env.update(
        TANDEM_VAR_DIR=str(var),
        TANDEM_PORT=str(port),
        TANDEM_VENV=str(Path(sys.executable).parent.parent),
        TANDEM_NO_INSTALL="1",
        TANDEM_WORKER_LOG_LEVEL="INFO",
        TANDEM_WORKER_CONCURRENCY="1",
        TANDEM_RUN_SWEEP_SECONDS="1",
        TANDEM_RUN_STALE_SECONDS="5",
        TANDEM_RUN_HEARTBEAT_SECONDS="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    out = open(log, "wb")  # noqa: SIM115
    demo = subprocess.Popen(
        [str(ROOT / "tandem"), "demo"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=interruptible,
    )
    started: list[int] = []  # the server's and the worker's process groups, killed whatever happens
    db = var / "tandem.sqlite3"

    def run_row(pk):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=20) as conn:
            return dict(
                zip(
                    ("state", "attempts", "worker", "error"),
                    conn.execute(
                        "SELECT state, attempts, worker, error FROM workers_taskrun WHERE id = ?", [pk]
                    ).fetchone(),
                )
            )

    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        wait_for(lambda: b" ready." in log.read_bytes() and browser.reachable(), 900, "the demo", log)
        procs = children(demo.pid)
        worker = next(pid for pid, cmd in procs.items() if "celery" in cmd and " worker " in cmd)
        server = next(pid for pid, cmd in procs.items() if "runserver" in cmd)
        started += [worker, server]
        setup = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        project_id, ghost = (int(x) for x in setup.split("SETUP")[1].split())
        assert browser.login("manager", "tandem-manager")[0] == 302

        paused(worker, db, var / "broker.sqlite3")
        # The worker sleeps: whatever the request returns, the job cannot have run inside it.
        form = {"model_spec": "1", "item_kind": "binary", "n": "1", "max_new_tokens": "8", "temperature": "0"}
        status, location, _ = browser.post(reverse("workers:start_generation", args=[project_id]), form)
        assert status == 302 and location.startswith(reverse("workers:project_runs", args=[project_id])), status
        job = int(location.strip("/").split("/")[-1])
        assert run_row(job)["state"] == "queued"
        page = browser.get(location)[1]
        assert 'hx-trigger="every 2s"' in page and "Cancel run" in page  # live progress, with Cancel
        _, location, _ = browser.post(reverse("workers:start_generation", args=[project_id]), form)
        cancelled = int(location.strip("/").split("/")[-1])
        browser.post(reverse("workers:cancel_run", args=[project_id, cancelled]), {})
        assert run_row(cancelled)["state"] == "cancelled"
        os.killpg(worker, signal.SIGCONT)

        for pk in (job, ghost):
            wait_for(lambda pk=pk: run_row(pk)["state"] in FINISHED, 600, f"run {pk}", log)
        assert run_row(job) == {"state": "succeeded", "attempts": 1, "worker": run_row(job)["worker"], "error": ""}
        assert run_row(job)["worker"].startswith("demo@")
        # the run a dead worker left `running` was re-sent by this worker's sweeper, with no beat
        assert run_row(ghost)["state"] == "succeeded" and run_row(ghost)["attempts"] == 2
        # the cancelled run's message reaches the worker and does nothing
        wait_for(lambda: b"'cancelled'" in log.read_bytes(), 120, "the cancelled run's message", log)
        assert run_row(cancelled) == {"state": "cancelled", "attempts": 0, "worker": "", "error": ""}

        # the dashboard's figures are computed by the worker and reach the page through the shared
        # file cache (a per-process memory cache would leave the page "computing…" for ever)
        figures = reverse("curation:figures", args=[project_id])
        wait_for(lambda: 'id="noise"' in browser.get(figures)[1], 300, "the dashboard figures", log)

        demo.send_signal(signal.SIGINT)  # CTRL-C
        assert demo.wait(120) == 130
        assert not alive(server) and not alive(worker), children(demo.pid)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in {*children(demo.pid), *started}:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        out.close()
