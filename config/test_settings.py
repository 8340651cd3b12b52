"""The test suite's settings: the environment's settings, with tasks run synchronously in the
test process (so a test starts a run and asserts on its outcome in one call) and, unless the
environment names a broker, an in-memory one that nothing reaches. Set here rather than in the
environment, so subprocesses a test starts (a real worker, a server) run as a deployment does;
tests/celery_worker.py starts those with `config.settings`."""

import os

from config.settings import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = True
if not os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}

if not os.environ.get("REDIS_CACHE_URL"):
    # one memory cache per test process: a file cache would carry figures from one test (or run) to
    # the next, whose projects reuse the same ids. The demo's shared file cache is tested on the
    # real script (tests/test_demo_worker.py).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
