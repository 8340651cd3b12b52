"""Import throughput: N prompt/chosen/rejected rows (JSONL) through the import service, against
baselines measured in the same run on the same file, into the same four tables (prompt, response,
item, annotation), each into a fresh project:

- per-row ORM: the obvious importer (get_or_create the prompt, save each response, item and label
  one by one), timed on a sample (--baseline-rows) and extrapolated;
- Django bulk_create: read and hash the same rows, then `bulk_create` prompts, responses, items and
  labels (batches of --bulk-batch; PostgreSQL returns the ids), one transaction, all rows;
- COPY (PostgreSQL only): read and hash the same rows, ids from the tables' sequences in one round
  trip each, then psycopg 3 `cursor.copy(... FROM STDIN)` per table, one transaction, all rows.
  The floor for any importer of these rows.

The bare baselines trust the file: no validation, no shape detection, no lookup of prompts,
responses or labels the project already has (the project is new), which the service does.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tandem SECRET_KEY=x python bench/imports.py [--rows 100000]

Writes the figures to bench/results/imports.txt. The bench projects are removed afterwards.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import JSONField, UUIDField  # noqa: E402
from django.utils import timezone  # noqa: E402

from annotate.content import prompt_hash  # noqa: E402
from annotate.import_shapes import CHOSEN_STRENGTH  # noqa: E402
from annotate.imports import import_items  # noqa: E402
from annotate.models import Annotation, Annotator, AnnotatorKind, Item, Project, Prompt, Response  # noqa: E402

WORDS = [
    "the",
    "model",
    "should",
    "explain",
    "why",
    "a",
    "careful",
    "answer",
    "cites",
    "sources",
    "and",
    "checks",
    "each",
    "step",
    "before",
    "it",
    "reaches",
    "a",
    "conclusion",
    "about",
    "data",
    "code",
    "tests",
    "users",
    "latency",
    "memory",
    "budget",
    "policy",
]


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_rows(n, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        yield {
            "prompt": f"Question {i}: {text(rng, rng.randint(8, 40))}",
            "chosen": text(rng, rng.randint(40, 160)),
            "rejected": text(rng, rng.randint(20, 120)),
        }


def per_row_orm(project, rows, source):
    """What a straightforward importer does: one query (or more) per object."""
    annotator, _ = Annotator.objects.get_or_create(
        project=project, name=source, defaults={"kind": AnnotatorKind.SOURCE}
    )
    with transaction.atomic():
        for row in rows:
            h = prompt_hash(row["prompt"])
            prompt = Prompt.objects.filter(project=project, content_hash=h).first()
            if prompt is None:
                prompt = Prompt.objects.create(project=project, text=row["prompt"], content_hash=h, source=source)
            a = Response.objects.create(prompt=prompt, text=row["chosen"])
            b = Response.objects.create(prompt=prompt, text=row["rejected"])
            item = Item.objects.create(project=project, prompt=prompt, kind="pairwise", response_a=a, response_b=b)
            Annotation.objects.create(item=item, annotator=annotator, kind="pairwise", preference=-2)


def read_jsonl(path):
    """The file's rows with their prompt hash: the reading every baseline does as well."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            yield n, row, prompt_hash(row["prompt"])


def _provenance(source, path, n):
    return {"import": {"source": source, "file": path.name, "where": f"line {n}"}}


def bulk_create_import(project, path, source, batch_size):
    """Django's bulk_create of the same rows, table by table (ids come back from RETURNING)."""
    annotator = Annotator.objects.create(project=project, name=source, kind=AnnotatorKind.SOURCE)
    rows = list(read_jsonl(path))
    with transaction.atomic():
        prompts = {}
        for _, row, h in rows:
            if h not in prompts:
                prompts[h] = Prompt(project=project, text=row["prompt"], content_hash=h, source=source)
        Prompt.objects.bulk_create(prompts.values(), batch_size=batch_size)
        responses = []
        for _, row, h in rows:
            responses += [
                Response(prompt=prompts[h], text=row["chosen"]),
                Response(prompt=prompts[h], text=row["rejected"]),
            ]
        Response.objects.bulk_create(responses, batch_size=batch_size)
        items = [
            Item(
                project=project,
                prompt=prompts[h],
                kind="pairwise",
                response_a=responses[2 * i],
                response_b=responses[2 * i + 1],
                metadata=_provenance(source, path, n),
            )
            for i, (n, _, h) in enumerate(rows)
        ]
        Item.objects.bulk_create(items, batch_size=batch_size)
        Annotation.objects.bulk_create(
            [
                Annotation(
                    item=item,
                    annotator=annotator,
                    kind="pairwise",
                    preference=CHOSEN_STRENGTH,
                    details={"import": "chosen/rejected", "where": f"line {n}"},
                )
                for item, (n, _, _) in zip(items, rows)
            ],
            batch_size=batch_size,
        )
    return len(items)


def _copy_columns(model, given):
    """(columns, constant tail, per-row default fields): every concrete field but the ones given,
    at its model default converted once (a uuid default is drawn per row), as COPY needs them."""
    given_fields = [model._meta.get_field(name) for name in given]
    names = {f.attname for f in given_fields}
    now = timezone.now()
    fixed, per_row = [], []
    for f in model._meta.concrete_fields:
        if f.attname in names or f.primary_key:
            continue  # given, or a primary key left to its sequence
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            fixed.append((f, now))
        elif isinstance(f, UUIDField):
            per_row.append(f)
        else:
            fixed.append((f, f.get_default()))
    tail = tuple(json.dumps(v) if isinstance(f, JSONField) and v is not None else v for f, v in fixed)
    columns = [f.column for f in given_fields] + [f.column for f, _ in fixed] + [f.column for f in per_row]
    return columns, tail, per_row


def copy_import(project, path, source):
    """psycopg 3 COPY of the same rows into the same tables: ids from the sequences up front."""
    annotator = Annotator.objects.create(project=project, name=source, kind=AnnotatorKind.SOURCE)
    rows = list(read_jsonl(path))
    cursor_wrapper = connection.cursor()
    cur = cursor_wrapper.cursor  # the bare psycopg cursor

    def ids(model, n):
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [model._meta.db_table, n]
        )
        return [r[0] for r in cur.fetchall()]

    def copy(model, given, values):
        columns, tail, per_row = _copy_columns(model, given)
        with cur.copy(f'COPY "{model._meta.db_table}" ({", ".join(columns)}) FROM STDIN') as cp:
            for row in values:
                cp.write_row(row + tail + tuple(str(uuid.uuid4()) for _ in per_row))

    with transaction.atomic():
        prompt_of = {}
        for _, _, h in rows:
            prompt_of.setdefault(h, None)
        for h, pid in zip(prompt_of, ids(Prompt, len(prompt_of))):
            prompt_of[h] = pid
        response_ids, item_ids = ids(Response, 2 * len(rows)), ids(Item, len(rows))
        first = {}
        for _, row, h in rows:
            first.setdefault(h, row["prompt"])
        copy(
            Prompt,
            ["id", "project_id", "text", "source", "content_hash"],
            ((pid, project.pk, first[h], source, h) for h, pid in prompt_of.items()),
        )
        copy(
            Response,
            ["id", "prompt_id", "text"],
            (
                v
                for i, (_, row, h) in enumerate(rows)
                for v in (
                    (response_ids[2 * i], prompt_of[h], row["chosen"]),
                    (response_ids[2 * i + 1], prompt_of[h], row["rejected"]),
                )
            ),
        )
        copy(
            Item,
            ["id", "project_id", "prompt_id", "kind", "response_a_id", "response_b_id", "metadata"],
            (
                (
                    item_ids[i],
                    project.pk,
                    prompt_of[h],
                    "pairwise",
                    response_ids[2 * i],
                    response_ids[2 * i + 1],
                    json.dumps(_provenance(source, path, n)),
                )
                for i, (n, _, h) in enumerate(rows)
            ),
        )
        copy(
            Annotation,
            ["item_id", "annotator_id", "kind", "preference", "details"],
            (
                (
                    item_ids[i],
                    annotator.pk,
                    "pairwise",
                    CHOSEN_STRENGTH,
                    json.dumps({"import": "chosen/rejected", "where": f"line {n}"}),
                )
                for i, (n, _, _) in enumerate(rows)
            ),
        )
    cursor_wrapper.close()
    return len(rows)


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def drop(project):
    with connection.cursor() as c:
        c.execute(
            "DELETE FROM annotate_annotation WHERE item_id IN (SELECT id FROM annotate_item WHERE project_id = %s)",
            [project.pk],
        )
        c.execute("DELETE FROM annotate_item WHERE project_id = %s", [project.pk])
        c.execute(
            "DELETE FROM annotate_response WHERE prompt_id IN (SELECT id FROM annotate_prompt WHERE project_id = %s)",
            [project.pk],
        )
        c.execute("DELETE FROM annotate_prompt WHERE project_id = %s", [project.pk])
    project.delete()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    parser.add_argument(
        "--bulk-batch",
        type=int,
        default=2_000,
        help="bulk_create batch size (PostgreSQL caps a query at 65,535 parameters)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "imports.txt"))
    args = parser.parse_args()
    for leftover in Project.objects.filter(name__startswith="bench-imports-"):  # from an interrupted run
        drop(leftover)
    stamp = int(time.time())
    names = {
        "fast": f"bench-imports-{stamp}",
        "slow": f"bench-imports-baseline-{stamp}",
        "bulk": f"bench-imports-bulk-{stamp}",
        "copy": f"bench-imports-copy-{stamp}",
    }
    projects = {key: Project.objects.create(name=name) for key, name in names.items()}
    copy_s = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.jsonl"
            with path.open("w") as f:
                for row in make_rows(args.rows):
                    f.write(json.dumps(row) + "\n")
            size_mb = path.stat().st_size / 1e6
            result, fast_s = timed(lambda: import_items(projects["fast"], path, source=f"bench-{stamp}"))
            assert result.items_created == args.rows, result.summary()
            created, bulk_s = timed(bulk_create_import, projects["bulk"], path, f"bench-bulk-{stamp}", args.bulk_batch)
            assert created == args.rows
            if connection.vendor == "postgresql":
                created, copy_s = timed(copy_import, projects["copy"], path, f"bench-copy-{stamp}")
                assert created == args.rows
            counts = {
                key: (
                    Item.objects.filter(project=projects[key]).count(),
                    Annotation.objects.filter(item__project=projects[key]).count(),
                )
                for key in ("fast", "bulk", "copy")
            }
        sample = list(make_rows(args.baseline_rows, seed=1))
        t0 = time.perf_counter()
        per_row_orm(projects["slow"], sample, f"bench-baseline-{stamp}")
        base_s = (time.perf_counter() - t0) / len(sample) * args.rows
    finally:
        for project in projects.values():
            drop(project)
        Annotator.objects.filter(
            name__in=[f"bench-{stamp}", f"bench-baseline-{stamp}", f"bench-bulk-{stamp}", f"bench-copy-{stamp}"]
        ).delete()
    for key in ("fast", "bulk") + (("copy",) if copy_s is not None else ()):  # each wrote every row and its label
        assert counts[key] == (args.rows, args.rows), (key, counts[key])

    def rate(seconds):
        return f"{seconds:7.2f} s  {args.rows / seconds:10.0f} rows/s"

    lines = [
        f"import of {args.rows} prompt/chosen/rejected rows ({size_mb:.1f} MB JSONL) on {connection.vendor}; "
        f"items and labels written, counted back: {counts['fast'][0]} / {counts['fast'][1]}",
        f"  tandem import service : {rate(fast_s)}  (read + validate + write, one transaction)",
        f"  per-row ORM baseline  : {rate(base_s)}  (measured on {len(sample)} rows, extrapolated)",
        f"  Django bulk_create    : {rate(bulk_s)}  (read + hash + bulk_create per table, batches of {args.bulk_batch}, one transaction)",
    ]
    if copy_s is not None:
        lines.append(
            f"  psycopg COPY          : {rate(copy_s)}  (read + hash + ids from the sequences + COPY per table, one transaction)"
        )
    lines.append(f"  speed-up over per-row ORM : {base_s / fast_s:.1f}x")
    lines.append(f"  service / bulk_create     : {bulk_s / fast_s:.2f}x the bulk_create rate")
    if copy_s is not None:
        lines.append(
            f"  service / COPY            : {copy_s / fast_s:.2f}x the bare COPY rate (1.00 = as fast as the floor)"
        )
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
