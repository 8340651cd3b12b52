"""Export benchmark: a snapshot of N preference rows in PostgreSQL, pulled over REST as JSONL from
the app under gunicorn, against `COPY (SELECT data ...) TO STDOUT` of the same rows.

    DATABASE_URL=postgres://... SECRET_KEY=x python bench/export.py [--rows 1000000] [--engines copy,python]

Prints rows/s of each REST engine and of COPY, the ratio (target ≥ 0.5), and the web worker's peak
resident memory (VmHWM) after a small warm-up export and after each full export (target: flat,
< 300 MB). Rows are generated in the database (generate_series) and deleted afterwards.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INSERT = """
INSERT INTO curation_snapshotrow (snapshot_id, item_id, kind, split, prompt_hash, data)
SELECT %(snapshot)s, NULL, 'pairwise', CASE WHEN g %% 10 = 0 THEN 'test' ELSE 'train' END, md5('p' || g),
  jsonb_build_object(
    'prompt', 'Prompt ' || g || ': ' || repeat(md5('p' || g) || ' ', %(prompt_reps)s),
    'messages', NULL,
    'chosen', 'Chosen answer ' || g || ': ' || repeat(md5('c' || g) || ' ', %(reply_reps)s),
    'rejected', 'Rejected answer ' || g || ': ' || repeat(md5('r' || g) || ' ', %(reply_reps)s),
    'margin', (g %% 3) + 1, 'preference', -((g %% 3) + 1),
    'rationales', jsonb_build_array('A is more helpful ' || md5('x' || g)),
    'p_noise', (g %% 97) / 100.0, 'sources', jsonb_build_array('human'), 'item_id', g,
    'n_labels', 2, 'flipped', false)
FROM generate_series(1, %(rows)s) AS g
"""


def vm_hwm_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_snapshot(rows, reply_chars):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotate.models import Project
    from curation.models import ExportToken, Snapshot

    project = Project.objects.create(name=f"bench-export-{int(time.time())}")
    snapshot = Snapshot.objects.create(
        project=project, version=1, name="bench", content_hash="0" * 64, counts={"rows": rows}, epsilon=0.1
    )
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT, {"snapshot": snapshot.pk, "rows": rows, "prompt_reps": 3, "reply_reps": max(1, reply_chars // 33)}
        )
        cursor.execute("ANALYZE curation_snapshotrow")
    insert_s = time.perf_counter() - t0
    issuer, _ = get_user_model().objects.get_or_create(username="bench-export", defaults={"is_superuser": True})
    _, key = ExportToken.issue(project, "bench", created_by=issuer)  # a token works only while its issuer may export
    return project, snapshot, key, insert_s


def drop_snapshot(project, snapshot):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM curation_snapshotrow WHERE snapshot_id = %s", [snapshot.pk])
        cursor.execute("DELETE FROM curation_snapshot WHERE id = %s", [snapshot.pk])
        cursor.execute("DELETE FROM curation_exporttoken WHERE project_id = %s", [project.pk])
    project.delete()


def copy_baseline(snapshot):
    """COPY of the same rows' stored data, read the way a client reads it."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    conninfo = f"host={db['HOST']} port={db['PORT'] or 5432} dbname={db['NAME']} user={db['USER']}" + (
        f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""
    )
    lines = size = 0
    t0 = time.perf_counter()
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY (SELECT data FROM curation_snapshotrow WHERE snapshot_id = %s AND kind = ANY(%s) ORDER BY id) TO STDOUT",
            [snapshot.pk, ["pairwise", "edit"]],
        ) as copy,
    ):
        while data := copy.read():
            lines += bytes(data).count(b"\n")
            size += len(data)
    return lines, size, time.perf_counter() - t0


def rest_export(url, key, params):
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    lines = size = 0
    t0 = time.perf_counter()
    with urlopen(Request(f"{url}?{urlencode(params)}", headers={"Authorization": f"Token {key}"}), timeout=3600) as r:
        while chunk := r.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
    return lines, size, time.perf_counter() - t0


def start_gunicorn(port):
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--timeout",
            "3600",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    import psutil

    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    workers = psutil.Process(proc.pid).children()
    return proc, workers[0].pid


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reply-chars", type=int, default=300, help="about this many characters per response")
    parser.add_argument("--engines", default="copy,python", help="REST engines to measure: copy (PostgreSQL), python")
    parser.add_argument("--keep", action="store_true", help="keep the generated snapshot")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "export.txt"))
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("bench/export.py needs DATABASE_URL=postgres://...")
    project, snapshot, key, insert_s = make_snapshot(args.rows, args.reply_chars)
    port = free_port()
    proc = None
    out = [
        f"export benchmark: {args.rows} preference rows (~{args.reply_chars} chars per response), "
        f"gunicorn 1 sync worker, PostgreSQL {connection.cursor().connection.info.server_version}",
        f"generated in the database in {insert_s:.1f} s",
    ]
    try:
        proc, worker = start_gunicorn(port)
        url = f"http://127.0.0.1:{port}/api/snapshots/{snapshot.pk}/rows.jsonl"
        rest_export(f"http://127.0.0.1:{port}/api/projects/", key, {})  # loads the whole app (URLconf, views)
        base_rss = vm_hwm_mb(worker)
        rest_export(url, key, {"format": "preference", "split": "test", "engine": "python"})
        warm_rss = vm_hwm_mb(worker)
        out.append(
            f"web worker peak RSS: app loaded (after one API call) {base_rss:.0f} MB, "
            f"after a {args.rows // 10}-row warm-up export {warm_rss:.0f} MB"
        )
        lines, size, seconds = copy_baseline(snapshot)
        copy_rate = lines / seconds
        out.append(
            f"COPY (SELECT data ...) TO STDOUT: {lines} rows, {size / 1e6:.0f} MB in {seconds:.2f} s = {copy_rate:,.0f} rows/s"
        )
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            lines, size, seconds = rest_export(url, key, {"format": "preference", "engine": engine})
            rate = lines / seconds
            out.append(
                f"REST JSONL engine={engine}: {lines} rows, {size / 1e6:.0f} MB in {seconds:.2f} s = {rate:,.0f} rows/s; "
                f"ratio to COPY {rate / copy_rate:.2f} (target ≥ 0.5); web worker peak RSS {vm_hwm_mb(worker):.0f} MB "
                f"(+{vm_hwm_mb(worker) - base_rss:.0f} MB over the loaded app; target flat, < 300 MB)"
            )
        _, size, seconds = rest_export(url.replace("rows.jsonl", "rows.parquet"), key, {"format": "preference"})
        out.append(
            f"REST Parquet (default engine): {size / 1e6:.0f} MB in {seconds:.2f} s = {args.rows / seconds:,.0f} rows/s; "
            f"web worker peak RSS {vm_hwm_mb(worker):.0f} MB"
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if not args.keep:
            drop_snapshot(project, snapshot)
    print("\n".join(out))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
