"""Import throughput: N prompt/chosen/rejected rows (JSONL) through the import service, against a
baseline measured in the same run: the obvious per-row ORM importer (get_or_create the prompt,
save each response, item and label one by one), timed on a sample and extrapolated.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tandem SECRET_KEY=x python bench/imports.py [--rows 100000]

Writes the figures to bench/results/imports.txt. The bench project is removed afterwards.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from annotate.content import prompt_hash  # noqa: E402
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
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "imports.txt"))
    args = parser.parse_args()
    for leftover in Project.objects.filter(name__startswith="bench-imports-"):  # from an interrupted run
        drop(leftover)
    stamp = int(time.time())
    fast = Project.objects.create(name=f"bench-imports-{stamp}")
    slow = Project.objects.create(name=f"bench-imports-baseline-{stamp}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.jsonl"
            with path.open("w") as f:
                for row in make_rows(args.rows):
                    f.write(json.dumps(row) + "\n")
            size_mb = path.stat().st_size / 1e6
            t0 = time.perf_counter()
            result = import_items(fast, path, source=f"bench-{stamp}")
            fast_s = time.perf_counter() - t0
        assert result.items_created == args.rows, result.summary()
        sample = list(make_rows(args.baseline_rows, seed=1))
        t0 = time.perf_counter()
        per_row_orm(slow, sample, f"bench-baseline-{stamp}")
        base_s = (time.perf_counter() - t0) / len(sample) * args.rows
    finally:
        drop(fast)
        drop(slow)
        Annotator.objects.filter(name__in=[f"bench-{stamp}", f"bench-baseline-{stamp}"]).delete()
    lines = [
        f"import of {args.rows} prompt/chosen/rejected rows ({size_mb:.1f} MB JSONL) on {connection.vendor}",
        f"  tandem import service : {fast_s:7.2f} s  {args.rows / fast_s:10.0f} rows/s  (read + validate + write, one transaction)",
        f"  per-row ORM baseline  : {base_s:7.2f} s  {args.rows / base_s:10.0f} rows/s  (measured on {len(sample)} rows, extrapolated)",
        f"  speed-up              : {base_s / fast_s:.1f}x",
    ]
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
