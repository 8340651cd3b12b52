import pytest

from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import rationales
from workers.models import Rationale
from workers.tasks.rationales import generate_rationales

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_prompts_for_each_kind():
    pair = rationales.rationale_messages("pairwise", {"prompt": "P", "chosen": "C", "rejected": "R"})[0]["content"]
    assert "Preferred response:\nC" in pair and "Other response:\nR" in pair
    down = rationales.rationale_messages(
        "binary", {"prompt": "P", "completion": "X", "label": False, "failed_principles": ["Be honest"]}
    )
    assert "thumbs down" in down[0]["content"] and "Be honest" in down[0]["content"]
    up = rationales.rationale_messages("binary", {"prompt": "P", "completion": "X", "label": True})
    assert "thumbs up" in up[0]["content"]


def test_rationale_run_writes_one_per_item_and_is_rerunnable(project, tiny_model_dir):
    snap = wh.snapshot(project, pairs=5, binary=2, edits=1)
    spec = wh.model_spec(tiny_model_dir)
    run = rationales.start_rationale_run(snap, spec, batch_size=3, max_new_tokens=6)
    assert generate_rationales.delay(run.pk).get() == "succeeded"
    run.refresh_from_db()
    assert run.metrics["rationales"] == 8 and (run.progress, run.total) == (8, 8)
    assert Rationale.objects.filter(run=run).count() == 8
    assert set(Rationale.objects.filter(run=run).values_list("model_name", flat=True)) == {spec.name}
    # the service itself re-run (as after a takeover) writes nothing twice
    rationales.generate_rationales(run)
    assert Rationale.objects.filter(run=run).count() == 8


def test_only_requested_kinds(project, tiny_model_dir):
    snap = wh.snapshot(project, pairs=2, binary=3, edits=1)
    run = rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), kinds=["binary"], max_new_tokens=4)
    generate_rationales.delay(run.pk)
    assert Rationale.objects.filter(run=run, item__kind="binary").count() == 3
    assert Rationale.objects.filter(run=run).count() == 3
    with pytest.raises(ValueError, match="unknown row kinds"):
        rationales.start_rationale_run(snap, wh.model_spec(tiny_model_dir), kinds=["nope"])
