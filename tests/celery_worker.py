"""Start a real `celery worker` subprocess against the test database and Redis DB 5."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# `./tandem test` names the suite's Redis DB; a helper's own runs default to DB 5. The DB is flushed.
BROKER_URL = (
    os.environ.get("TANDEM_TEST_BROKER_URL") or os.environ.get("TANDEM_TEST_REDIS_URL") or "redis://127.0.0.1:6379/5"
)


def database_url():
    """The database pytest-django created (test_<name>), as a URL the worker can read."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("the worker tests need PostgreSQL (a subprocess cannot see an in-memory SQLite test DB)")
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


def worker_env(artifacts_dir, **extra):
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_RESULT_BACKEND": "",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "x"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TANDEM_ARTIFACTS_DIR": str(artifacts_dir),
            "CONN_MAX_AGE": "0",
            # Fast crash recovery for the SIGKILL test: redeliver unacked messages after a few seconds.
            "CELERY_VISIBILITY_TIMEOUT": "6",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "CELERY_UNACKED_RESTORE_THROTTLE": "1",
            "TANDEM_RUN_HEARTBEAT_SECONDS": "1",
            "TANDEM_RUN_STALE_SECONDS": "4",
            # Workers sweep stale runs on a timer; off here unless a test asks (`TANDEM_RUN_SWEEP_SECONDS=1`),
            # so a module-wide worker never takes over a run a crash test means for its second worker.
            "TANDEM_RUN_SWEEP_SECONDS": "3600",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Worker:
    def __init__(self, artifacts_dir, name, queues="cpu,gpu", log_dir=None, **env):
        self.log_path = Path(log_dir or artifacts_dir) / f"worker-{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--pool",
                "solo",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=worker_env(artifacts_dir, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if b"ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.output()}")

    def output(self):
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self):
        """SIGKILL: no cleanup, no ack, no warm shutdown: what a crash or the OOM killer does."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def producer():
    """A Celery client on the test broker (the test process itself runs eager)."""
    from celery import Celery

    from config.celery import app as tandem

    # set_as_current=False: shared tasks in this process must keep running eagerly on Tandem's app.
    client = Celery("tandem-test-client", broker=BROKER_URL, set_as_current=False)
    client.conf.task_routes = tandem.conf.task_routes
    return client


def send(client, task, run, queue=None):
    """Send a Tandem task for a run as the app would (same name, same queue unless told)."""
    from workers.models import TaskRun

    TaskRun.objects.filter(pk=run.pk).update(task_name=task.name)
    return client.send_task(task.name, args=[run.pk], queue=queue or task.queue)


def flush_broker():
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
