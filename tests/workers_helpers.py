"""Test data for the workers area: a tiny registered model and snapshots built through the models."""

import hashlib
import itertools
import random

from curation.models import Snapshot, SnapshotRow
from tests import factories
from workers.models import ModelSpec

_seq = itertools.count(1)

GOOD = ["The capital of France is Paris.", "Water boils at 100 degrees Celsius.", "def add(a, b): return a + b"]
BAD = ["I cannot help with that request.", "Paris is in Germany.", "-1 -2 -3"]


def model_spec(path, name=None, **fields):
    return ModelSpec.objects.create(
        name=name or f"tiny-{next(_seq)}", path_or_id=str(path), dtype="float32", max_length=256, **fields
    )


def snapshot(project, pairs=12, binary=4, edits=2, test_fraction=0.25, epsilon=0.1, seed=0, with_items=True):
    """A frozen snapshot with pairwise, binary and edit rows in the curation/formats.py contract."""
    rng = random.Random(seed)
    version = (project.snapshots.count() or 0) + 1
    snap = Snapshot.objects.create(
        project=project,
        version=version,
        content_hash=hashlib.sha256(f"{project.pk}-{version}".encode()).hexdigest(),
        epsilon=epsilon,
        test_fraction=test_fraction,
    )
    rows = []
    n = 0
    for kind, count in (("pairwise", pairs), ("binary", binary), ("edit", edits)):
        for i in range(count):
            n += 1
            prompt_text = f"Question {n}: what is true about topic {i}?"
            good, bad = rng.choice(GOOD), rng.choice(BAD)
            item = factories.item(project, kind=kind, text_a=good, text_b=bad) if with_items else None
            common = {
                "prompt": prompt_text,
                "messages": None,
                "rationales": [],
                "p_noise": round(rng.random() * 0.5, 3),
                "sources": ["human"],
                "item_id": item.pk if item else None,
            }
            if kind == "pairwise":
                data = {**common, "chosen": good, "rejected": bad, "margin": 2.0, "preference": -2}
            elif kind == "binary":
                up = i % 2 == 0
                data = {
                    **common,
                    "completion": good if up else bad,
                    "label": up,
                    "failed_principles": [] if up else ["Be honest"],
                    "reason": "" if up else "wrong",
                }
            else:
                data = {**common, "chosen": good, "rejected": bad, "edit_distance": 0.5}
            split = "test" if n % round(1 / test_fraction) == 0 else "train"
            rows.append(
                SnapshotRow(
                    snapshot=snap,
                    item=item,
                    kind=kind,
                    split=split,
                    prompt_hash=hashlib.sha256(prompt_text.encode()).hexdigest(),
                    data=data,
                )
            )
    SnapshotRow.objects.bulk_create(rows)
    counts = {
        "rows": len(rows),
        "train": sum(r.split == "train" for r in rows),
        "test": sum(r.split == "test" for r in rows),
    }
    Snapshot.objects.filter(pk=snap.pk).update(counts=counts)
    snap.refresh_from_db()
    return snap


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """One tiny Llama + tokenizer per test session (built locally; no downloads)."""
    from workers.ml.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), extra_texts=GOOD + BAD)


@pytest.fixture
def artifacts_dir(tmp_path, settings):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.ARTIFACTS_DIR
