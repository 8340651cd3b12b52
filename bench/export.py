"""Export benchmark: a snapshot of N preference rows in PostgreSQL, pulled over REST as JSONL from
the app under gunicorn, against `COPY (SELECT data ...) TO STDOUT` of the same rows.

    DATABASE_URL=postgres://... SECRET_KEY=x python bench/export.py [--rows 1000000] [--engines copy,python]

Prints rows/s of each REST engine and of COPY, the ratio (target ≥ 0.5), and the web worker's peak
resident memory (VmHWM) after a small warm-up export and after each full export (target: flat,
< 300 MB). Rows are generated in the database (generate_series) and deleted afterwards.

Every row's prompt, chosen, rejected and rationale end in one of SNIPPETS: CJK, emoji (astral,
ZWJ sequences, a flag), accented and right-to-left text with direction marks, and text that needs
escaping in JSON or CSV: quotes, backslashes, newlines, CR, tabs, control characters (among them
\x01 and \x02, the delimiter and quote of the COPY engine's CSV framing), U+2028/U+2029 and NEL
(line breaks to str.splitlines, not to JSONL), zero-width characters and a BOM. (NUL cannot be
stored: PostgreSQL's text and jsonb refuse it.) After the timed exports, each REST export is
downloaded again and parsed back (JSONL split on b"\n" only; Parquet read with pyarrow) and every
row is compared with the text the generator wrote, rebuilt in Python from the row's number. Row
counts printed for Parquet are read back from the file, not assumed.
"""

import argparse
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Text that is hard to carry through JSON, CSV and Parquet; the generator and the check below
# both index this list, so the SQL and Python sides write and expect the same strings.
SNIPPETS = [
    "中文：偏好数据；日本語のテキスト、한국어 문장",
    "emoji 👍🏽 👨‍👩‍👧‍👦 🚀🎉 flag 🇺🇦 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "accents: café, naïve, façade, Ångström, Zürich, ñandú, Œuvre, e\u0301 (combining)",
    "RTL: مرحبا بالعالم — שלום עולם \u200f(marked)\u200e",
    'quotes "double" and \'single\' and a CSV cell "a,b";c,,"',
    'backslashes C:\\path\\to\\file, a literal \\n, \\u00e9 and \\" (not escapes)',
    "line one\nline two\r\nline three\ttabbed\t\tend\r",
    "controls \x01\x02\x03\x07\x08\x0b\x0c\x1b[31m\x1f\x7f end",
    "separators \u2028 and \u2029, NEL \u0085, zero-width \u200b\u200c\u200d, BOM \ufeff",
    'JSON-looking {"prompt": "x", "chosen": [1, 2]}\n{"item_id": 0} </script>',
]

INSERT = """
INSERT INTO curation_snapshotrow (snapshot_id, item_id, kind, split, prompt_hash, data)
SELECT %(snapshot)s, NULL, 'pairwise', CASE WHEN g %% 10 = 0 THEN 'test' ELSE 'train' END, md5('p' || g),
  jsonb_build_object(
    'prompt', 'Prompt ' || g || ': ' || repeat(md5('p' || g) || ' ', %(prompt_reps)s) || (%(snippets)s::text[])[1 + g %% %(n)s],
    'messages', NULL,
    'chosen', 'Chosen answer ' || g || ': ' || repeat(md5('c' || g) || ' ', %(reply_reps)s) || (%(snippets)s::text[])[1 + (g + 1) %% %(n)s],
    'rejected', 'Rejected answer ' || g || ': ' || repeat(md5('r' || g) || ' ', %(reply_reps)s) || (%(snippets)s::text[])[1 + (g + 2) %% %(n)s],
    'margin', (g %% 3) + 1, 'preference', -((g %% 3) + 1),
    'rationales', jsonb_build_array('A is more helpful ' || md5('x' || g) || ' ' || (%(snippets)s::text[])[1 + (g + 3) %% %(n)s]),
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


def reply_reps(reply_chars):
    return max(1, reply_chars // 33)


def _md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def expected_row(g, reps):
    """The `preference` columns the export must give for generated row g (text_render's hh-rlhf
    rendering of what INSERT wrote), rebuilt here independently of the database."""
    from curation.text_render import render_completion, render_prompt

    n = len(SNIPPETS)
    prompt = f"Prompt {g}: " + (_md5(f"p{g}") + " ") * 3 + SNIPPETS[g % n]
    chosen = f"Chosen answer {g}: " + (_md5(f"c{g}") + " ") * reps + SNIPPETS[(g + 1) % n]
    rejected = f"Rejected answer {g}: " + (_md5(f"r{g}") + " ") * reps + SNIPPETS[(g + 2) % n]
    return {
        "prompt": render_prompt([{"role": "user", "content": prompt}]),
        "chosen": render_completion(chosen),
        "rejected": render_completion(rejected),
        "margin": (g % 3) + 1,
        "rationale": f"A is more helpful {_md5(f'x{g}')} " + SNIPPETS[(g + 3) % n],
        "noise": (g % 97) / 100.0,
        "sources": "human",
        "item_id": g,
        "controversial": False,
    }


class RoundTrip:
    """Rows parsed back from an export, compared with expected_row; each row number seen once."""

    def __init__(self, rows, reps):
        self.rows, self.reps = rows, reps
        self.seen = bytearray(rows + 1)
        self.parsed = self.mismatched = self.repeated = 0
        self.examples = []

    def add(self, row):
        self.parsed += 1
        g = row.get("item_id")
        if not isinstance(g, int) or not 1 <= g <= self.rows:
            self._bad(g, "item_id", g)
            return
        if self.seen[g]:
            self.repeated += 1
        self.seen[g] = 1
        want = expected_row(g, self.reps)
        for key, value in want.items():
            got = row.get(key)
            if got != value and not (isinstance(value, float) and isinstance(got, float) and abs(got - value) < 1e-12):
                self._bad(g, key, got, value)
                return

    def _bad(self, g, key, got, want=None):
        self.mismatched += 1
        if len(self.examples) < 3:
            at = 0
            if isinstance(got, str) and isinstance(want, str):  # show where they part
                at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                got, want = got[max(0, at - 20) : at + 40], want[max(0, at - 20) : at + 40]
            self.examples.append(f"row {g} {key} (from character {at}): got {got!r} want {want!r}")

    @property
    def missing(self):
        return self.rows - sum(self.seen[1:])

    @property
    def ok(self):
        return self.mismatched == 0 and self.repeated == 0 and self.missing == 0

    def summary(self):
        verdict = "round-trip OK" if self.ok else "round-trip FAILED"
        return (
            f"{verdict}: {self.parsed} rows parsed back, {self.mismatched} differ, {self.missing} missing, "
            f"{self.repeated} repeated" + "".join(f"\n    {e}" for e in self.examples)
        )


def check_jsonl(url, key, params, rows, reps):
    """Download the export again and parse every line (split on b"\\n" only) back."""
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    check, tail = RoundTrip(rows, reps), b""
    with urlopen(Request(f"{url}?{urlencode(params)}", headers={"Authorization": f"Token {key}"}), timeout=3600) as r:
        while chunk := r.read(1 << 20):
            *lines, tail = (tail + chunk).split(b"\n")
            for line in lines:
                check.add(json.loads(line))
    if tail.strip():
        check.add(json.loads(tail))  # a last line without its newline still counts
    return check


def check_parquet(body, rows, reps):
    """(rows counted in the file, rows in its footer, RoundTrip) for a Parquet export."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(io.BytesIO(body))
    counted, check = 0, RoundTrip(rows, reps)
    for batch in pf.iter_batches(batch_size=50_000):
        counted += batch.num_rows
        for row in batch.to_pylist():
            check.add(row)
    return counted, pf.metadata.num_rows, check


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
            INSERT,
            {
                "snapshot": snapshot.pk,
                "rows": rows,
                "prompt_reps": 3,
                "reply_reps": reply_reps(reply_chars),
                "snippets": SNIPPETS,
                "n": len(SNIPPETS),
            },
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


def rest_export(url, key, params, keep=None):
    """(lines, bytes, seconds) of one export; `keep`: a list the body's chunks are appended to."""
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    lines = size = 0
    t0 = time.perf_counter()
    with urlopen(Request(f"{url}?{urlencode(params)}", headers={"Authorization": f"Token {key}"}), timeout=3600) as r:
        while chunk := r.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
            if keep is not None:
                keep.append(chunk)
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
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        for engine in engines:
            lines, size, seconds = rest_export(url, key, {"format": "preference", "engine": engine})
            rate = lines / seconds
            out.append(
                f"REST JSONL engine={engine}: {lines} rows, {size / 1e6:.0f} MB in {seconds:.2f} s = {rate:,.0f} rows/s; "
                f"ratio to COPY {rate / copy_rate:.2f} (target ≥ 0.5); web worker peak RSS {vm_hwm_mb(worker):.0f} MB "
                f"(+{vm_hwm_mb(worker) - base_rss:.0f} MB over the loaded app; target flat, < 300 MB)"
            )
        body = []
        _, size, seconds = rest_export(
            url.replace("rows.jsonl", "rows.parquet"), key, {"format": "preference"}, keep=body
        )
        peak = vm_hwm_mb(worker)
        counted, footer, parquet_check = check_parquet(b"".join(body), args.rows, reply_reps(args.reply_chars))
        out.append(
            f"REST Parquet (default engine): {counted} rows counted by reading the file back with pyarrow "
            f"(footer says {footer}), {size / 1e6:.0f} MB in {seconds:.2f} s = {counted / seconds:,.0f} rows/s; "
            f"web worker peak RSS {peak:.0f} MB"
        )
        checks = [
            (
                f"JSONL engine={engine}",
                check_jsonl(
                    url, key, {"format": "preference", "engine": engine}, args.rows, reply_reps(args.reply_chars)
                ),
            )
            for engine in engines
        ]
        checks.append(("Parquet", parquet_check))
        for name, check in checks:
            out.append(f"{name} {check.summary()}")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if not args.keep:
            drop_snapshot(project, snapshot)
    out.insert(
        1,
        f"every row's text ends in one of {len(SNIPPETS)} snippets: CJK, emoji, accented, RTL, quotes, "
        "backslashes, newlines, CR, tabs, control characters, U+2028/U+2029, zero-width; "
        "each export parsed back and compared row by row",
    )
    print("\n".join(out))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    if not all(check.ok for _, check in checks):
        sys.exit("export round-trip failed (see above)")


if __name__ == "__main__":
    main()
