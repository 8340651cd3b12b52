"""Annotation load: N simulated annotators doing next-item + submit, Tandem vs Label Studio.

    python bench/annotate_load.py [--annotators 50] [--duration 20] [--items 20000] [--workers 4]
                                  [--ls-venv /tmp/ls-venv] [--skip-ls]

Both apps are served by gunicorn (same worker count) on the same PostgreSQL, each with its own
fresh database, and driven by the same client loop: every annotator asks for its next item and
submits a thumbs up/down label, as fast as it can, with its own persistent login (a session for
Tandem, an API token for Label Studio). Prints requests/s, p50/p99 latency, errors, and the
throughput ratio; writes bench/results/annotate_load.txt.

Label Studio is installed separately (never a Tandem dependency):
    python3 -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install label-studio gunicorn
"""

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
RESULTS = ROOT / "bench" / "results" / "annotate_load.txt"


def recreate_db(name):
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path="/", timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server on port {port} did not come up in {timeout}s")


def gunicorn(python_bin, app, port, workers, cwd, env):
    cmd = [
        str(Path(python_bin).parent / "gunicorn"),
        app,
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=open("/tmp/bench-gunicorn.log", "ab")
    )


# ---------------------------------------------------------------- Tandem


def tandem_seed(env, annotators, items):
    """Fresh database, migrated, with a binary project, its items and logged-in annotators."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from annotate.content import prompt_hash
    from annotate.models import Annotator, Item, Membership, Project, Prompt, Response

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="bench", overlap=1, feedback_kinds=["binary"])
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, text=f"Question {n}: explain topic {n}.", content_hash=prompt_hash(f"q{n}"))
        for n in range(items)
    )
    responses = Response.objects.bulk_create(
        Response(prompt=p, text=f"An answer to {p.text}", model_name="m") for p in prompts
    )
    Item.objects.bulk_create(
        Item(project=project, prompt=p, response_a=r, kind="binary") for p, r in zip(prompts, responses)
    )
    User = get_user_model()
    password = make_password("bench-password")
    users = User.objects.bulk_create(User(username=f"ann{n}", password=password) for n in range(annotators))
    Membership.objects.bulk_create(Membership(project=project, user=u) for u in users)
    Annotator.objects.bulk_create(Annotator(kind="human", name=u.username, user=u) for u in users)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # planner statistics, as autovacuum would have them in production
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = []
    for u in users:
        session = SessionStore()
        session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(u.pk), settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = u.get_session_auth_hash()
        session.save()
        cookies.append(session.session_key)
    return project.pk, cookies


class TandemClient:
    name = "Tandem"

    def __init__(self, port, project_id, session_key):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        csrf = secrets.token_hex(16)
        self.headers = {
            "Cookie": f"sessionid={session_key}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Content-Type": "application/json",
        }
        self.next_path = f"/api/annotate/p/{project_id}/next/"

    def next(self):
        data = request(self.conn, "POST", self.next_path, b"{}", self.headers)
        return None if data.get("done") else data["assignment"]

    def submit(self, assignment, n):
        body = json.dumps(
            {"submission_id": str(uuid.uuid4()), "thumbs": "up" if n % 2 else "down", "time_spent_ms": 1500}
        )
        request(self.conn, "POST", f"/api/annotate/a/{assignment}/submit/", body.encode(), self.headers)


# ---------------------------------------------------------------- Label Studio


class LabelStudioClient:
    name = "Label Studio"

    def __init__(self, port, project_id, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.next_path = f"/api/projects/{project_id}/next/"

    def next(self):
        try:
            return request(self.conn, "GET", self.next_path, None, self.headers)["id"]
        except HTTPError as exc:
            if exc.status == 404:  # no more tasks
                return None
            raise

    def submit(self, task, n):
        body = json.dumps(
            {
                "result": [
                    {
                        "from_name": "thumbs",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["up" if n % 2 else "down"]},
                    }
                ],
                "lead_time": 1.5,
            }
        )
        request(self.conn, "POST", f"/api/tasks/{task}/annotations/", body.encode(), self.headers)


def ls_prepare(venv, annotators, items, workers):
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"no Label Studio venv at {venv} (python3 -m venv {venv} && {venv}/bin/pip install label-studio gunicorn)"
        )
    if not (Path(venv) / "bin" / "gunicorn").exists():
        raise RuntimeError(f"gunicorn is not installed in {venv} ({venv}/bin/pip install gunicorn)")
    recreate_db("ls_bench")
    data_dir = Path("/tmp/ls-bench-data")
    data_dir.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_DB": "postgresql",
        "POSTGRE_NAME": "ls_bench",
        "POSTGRE_USER": "postgres",
        "POSTGRE_PASSWORD": "",
        "POSTGRE_HOST": "127.0.0.1",
        "POSTGRE_PORT": "5432",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "DJANGO_SETTINGS_MODULE": "core.settings.label_studio",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
    }
    env.pop("DATABASE_URL", None)
    out = Path("/tmp/ls-bench-setup.json")
    subprocess.run(
        [str(python), str(ROOT / "bench" / "annotate_load_ls.py"), "setup", str(annotators), str(out)],
        env=env,
        check=True,
        cwd="/tmp",
    )
    setup = json.loads(out.read_text())
    pkg, version = subprocess.run(
        [
            str(python),
            "-c",
            "import label_studio, os; print(os.path.dirname(label_studio.__file__)); print(label_studio.__version__)",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd="/tmp",
    ).stdout.split()
    setup["version"] = version
    port = free_port()
    server = gunicorn(python, "core.wsgi:application", port, workers, pkg, env)
    wait_http(port, "/health")
    tasks = [
        {"prompt": f"Question {n}: explain topic {n}.", "response": f"An answer to question {n}."} for n in range(items)
    ]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Token {setup['admin_token']}", "Content-Type": "application/json"}
    request(conn, "POST", f"/api/projects/{setup['project']}/import", json.dumps(tasks).encode(), headers)
    import psycopg

    with psycopg.connect(f"{PG}/ls_bench", autocommit=True) as pg:
        pg.execute("ANALYZE")
    return server, port, setup


# ---------------------------------------------------------------- server CPU


def _ticks(pid, children_done=False):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime + stime + (cutime + cstime if children_done else 0)


def tree_cpu(root):
    """CPU seconds used by a process tree: the root, its live children, and (through the root's
    reaped-children counters) children that already exited."""
    if root is None:
        return 0.0
    children = Path(f"/proc/{root}/task/{root}/children")
    kids = children.read_text().split() if children.exists() else []
    return (_ticks(root, children_done=True) + sum(_ticks(int(k)) for k in kids)) / os.sysconf("SC_CLK_TCK")


def postmaster_pid():
    """PostgreSQL's postmaster on this machine (its backends do the database work), if readable."""
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = stat.read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"/postgres") and b"-D" in cmd:
            return int(stat.parent.name)
    return None


# ---------------------------------------------------------------- the load loop


class HTTPError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


def request(conn, method, path, body, headers):
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()  # gunicorn's sync workers close idle keep-alive sockets; reconnect once
            if attempt == 2:
                raise
    if resp.status >= 400:
        raise HTTPError(resp.status, data)
    return json.loads(data) if data else {}


def drive(clients, duration, warmup, think=0.0, server=None):
    """Each client loops next+submit (pausing `think` s on average between items, jittered so the
    annotators do not move in lockstep); requests completing inside the measured window count.
    With `server` (the gunicorn master's pid), also the CPU the app and PostgreSQL spent in the
    window: a steadier figure than latency on a noisy machine."""
    latencies, errors, lock = [], [], threading.Lock()
    cpu = {}
    postmaster = postmaster_pid()

    def sample(when):
        time.sleep(max(0.0, when - time.perf_counter()))
        cpu[when] = (tree_cpu(server), tree_cpu(postmaster))

    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    def loop(client):
        n, mine, bad = 0, [], []
        pace = random.Random(id(client))
        while time.perf_counter() < stop_at:
            for step in ("next", "submit"):
                t0 = time.perf_counter()
                try:
                    if step == "next":
                        target = client.next()
                        if target is None:
                            return finish(mine, bad)
                    else:
                        client.submit(target, n)
                except Exception as exc:  # counted, never hidden
                    bad.append(f"{step}: {exc}")
                    if step == "next":
                        break
                t1 = time.perf_counter()
                if measure_from <= t1 <= stop_at:  # completions inside the window, however long they took
                    mine.append(t1 - t0)
            n += 1
            if think:
                time.sleep(pace.uniform(0.5, 1.5) * think)
        finish(mine, bad)

    def finish(mine, bad):
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    threads += [threading.Thread(target=sample, args=(at,)) for at in (measure_from, stop_at)] if server else []
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    app_cpu = db_cpu = None
    if server and len(cpu) == 2:
        (app0, db0), (app1, db1) = cpu[measure_from], cpu[stop_at]
        app_cpu, db_cpu = app1 - app0, db1 - db0
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors, "app_cpu": app_cpu, "db_cpu": db_cpu}


def summarise(runs):
    """One figure per app over its rounds: total requests / total measured time."""
    latencies = sorted(x for r in runs for x in r["latencies"])
    errors = [e for r in runs for e in r["errors"]]
    elapsed = sum(r["elapsed"] for r in runs)

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    def cpu_ms(key):
        return (
            1000 * sum(r[key] for r in runs) / len(latencies)
            if latencies and all(r.get(key) is not None for r in runs)
            else None
        )

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "app_cpu_ms": cpu_ms("app_cpu"),
        "db_cpu_ms": cpu_ms("db_cpu"),
        "p50": pct(0.50),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "errors": len(errors),
        "error_samples": errors[:5],
        "rounds": [len(r["latencies"]) / r["elapsed"] if r["elapsed"] > 0 else 0.0 for r in runs],
    }


def line(name, r):
    cpu = ""
    if r["app_cpu_ms"] is not None:
        cpu = f"   CPU/request app {r['app_cpu_ms']:4.1f} ms + PostgreSQL {r['db_cpu_ms']:4.1f} ms"
    return (
        f"{name:<15} {r['rps']:8.1f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:7.1f} ms   "
        f"mean {r['mean']:6.1f} ms   requests {r['requests']:6d}   errors {r['errors']}{cpu}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--duration", type=float, default=40.0, help="measured seconds per app (split over the rounds)")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, same for both apps")
    ap.add_argument("--ls-venv", default="/tmp/ls-venv")
    ap.add_argument("--skip-ls", action="store_true")
    ap.add_argument("--rounds", type=int, default=2, help="alternating measurement rounds per app")
    ap.add_argument("--solo", type=float, default=10.0, help="seconds of a single-annotator latency probe per app")
    ap.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="paced phase: mean seconds each annotator pauses between items (people take 10-60 s)",
    )
    ap.add_argument("--paced", type=float, default=20.0, help="measured seconds of the paced phase per app (0: skip)")
    args = ap.parse_args()
    # The load generator is one process of 50 threads: with Python's default 5 ms GIL switch
    # interval, a response that has arrived can wait behind other client threads, and that wait
    # would be counted as server latency. A 1 ms interval keeps the client's share small.
    sys.setswitchinterval(0.001)

    db = "tandem_bench_annotate"
    recreate_db(db)
    # Tandem as deployed: persistent connections, sessions read from Redis (see the README).
    env = {
        "DATABASE_URL": f"{PG}/{db}",
        "SECRET_KEY": "bench-" + secrets.token_hex(8),
        "DEBUG": "0",
        "CONN_MAX_AGE": "600",
        "REDIS_CACHE_URL": os.environ.get("BENCH_REDIS_CACHE_URL", "redis://127.0.0.1:6379/13"),
    }
    project_id, sessions = tandem_seed(env, args.annotators, args.items)
    port = free_port()
    servers = [gunicorn(sys.executable, "config.wsgi:application", port, args.workers, ROOT, {**os.environ, **env})]
    wait_http(port, "/login/")
    apps = {"Tandem": lambda: [TandemClient(port, project_id, s) for s in sessions]}
    pids = {"Tandem": servers[0].pid}
    ls_note = ""
    if args.skip_ls:
        ls_note = "Label Studio skipped (--skip-ls)."
    else:
        try:
            ls_server, ls_port, setup = ls_prepare(args.ls_venv, args.annotators, args.items, args.workers)
            servers.append(ls_server)
            pids["Label Studio"] = ls_server.pid
            apps["Label Studio"] = lambda: [LabelStudioClient(ls_port, setup["project"], t) for t in setup["tokens"]]
        except Exception as exc:
            ls_note = f"Label Studio could not be run: {exc}"
            print(ls_note, file=sys.stderr)
    # Rounds alternate between the apps, so load from anything else on the machine falls on both.
    runs = {name: [] for name in apps}
    solo = {name: [] for name in apps}
    paced = {name: [] for name in apps}
    load_before = os.getloadavg()
    try:
        for _ in range(args.rounds):
            for name, clients in apps.items():
                runs[name].append(drive(clients(), args.duration / args.rounds, args.warmup, server=pids[name]))
        # Latency without queueing: one annotator alone, same loop.
        for name, clients in apps.items():
            solo[name].append(drive(clients()[:1], args.solo, 1.0, server=pids[name]))
        # Latency at a busy but human pace: every annotator pauses about `think` s between items.
        for name, clients in apps.items():
            if args.paced:
                paced[name].append(drive(clients(), args.paced, args.warmup, think=args.think, server=pids[name]))
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    load_after = os.getloadavg()
    tandem = summarise(runs["Tandem"])
    ls = summarise(runs["Label Studio"]) if "Label Studio" in runs else None
    solo_lines = [line(f"{name} x1", summarise(r)) for name, r in solo.items()]
    paced_lines = [line(f"{name} paced", summarise(r)) for name, r in paced.items() if r]
    print(line("Tandem", tandem), flush=True)
    if ls:
        print(line("Label Studio", ls), flush=True)
    print("\n".join(solo_lines + paced_lines), flush=True)

    ratio = tandem["rps"] / ls["rps"] if ls and ls["rps"] else None
    report = [
        f"# bench/annotate_load.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"# {args.annotators} annotators, next+submit loop, {args.duration:.0f} s measured after {args.warmup:.0f} s warm-up,"
        f" {args.items} binary items, overlap 1; gunicorn {args.workers} sync workers each; PostgreSQL; {os.cpu_count()} CPUs",
        f"# load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f} (machine shared with other work)",
        line("Tandem", tandem) + f"   rounds req/s {[round(x, 1) for x in tandem['rounds']]}",
    ]
    if ls:
        report.append(
            f"# Label Studio {setup['version']} as shipped (core.settings.label_studio, DEBUG off, its own"
            " CONN_MAX_AGE default); Tandem with CONN_MAX_AGE=600 and sessions cached in Redis"
        )
    report.append(
        line("Label Studio", ls) + f"   rounds req/s {[round(x, 1) for x in ls['rounds']]}" if ls else ls_note
    )
    if ratio:
        report.append(f"throughput ratio Tandem / Label Studio: {ratio:.2f}x")
        print(f"throughput ratio Tandem / Label Studio: {ratio:.2f}x")
    if tandem["rps"]:
        report.append(
            f"# closed loop, no think time: latency ≈ annotators / throughput (Little's law) = "
            f"{args.annotators} / {tandem['rps']:.0f} req/s ≈ {1000 * args.annotators / tandem['rps']:.0f} ms for Tandem;"
            f" p99 < 100 ms at {args.annotators} annotators needs ≥ {10 * args.annotators} req/s"
        )
    report.append(f"# one annotator alone ({args.solo:.0f} s each), latency without queueing:")
    report.extend(solo_lines)
    if paced_lines:
        report.append(
            f"# {args.annotators} annotators pausing {args.think:g} s on average between items "
            f"({args.paced:.0f} s each; real annotators take 10-60 s per item):"
        )
        report.extend(paced_lines)
    for name, r in (("Tandem", tandem), ("Label Studio", ls)):
        if r and r["error_samples"]:
            report.append(f"{name} error samples: {r['error_samples']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(report) + "\n")
    print(f"figures written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
