"""The local transformers backend on a tiny locally built model. Its replies are gibberish, so most
labels come back `unparsed`: what is tested is the plumbing (chat template, left-padded batches,
one label per item, raw replies kept) and that nothing unparseable is turned into a verdict."""

import pytest

from annotate.judging import backends
from annotate.kinds import binary as binary_kind
from annotate.kinds import edit as edit_kind
from annotate.kinds import pairwise as pairwise_kind
from annotate.models import Annotation, AnnotationStatus, LMJudge
from tests import factories
from workers.ml.tiny_models import build_tiny_causal_lm
from workers.models import ModelSpec, RunState

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-judge"))


def test_batched_left_padded_generation_matches_one_by_one(tiny_model, project):
    judge = LMJudge.objects.create(
        name="tiny", backend="transformers", model=tiny_model, parameters={"max_new_tokens": 8, "batch_size": 3}
    )
    backend = backends.backend_for(judge)
    assert backend.tokenizer.padding_side == "left"
    conversations = [
        [{"role": "user", "content": text}] for text in ("hi", "Which response is better? " * 5, "2 + 2 = ?")
    ]
    batched = backend.generate(conversations)
    single = [backend.generate([c])[0] for c in conversations]
    assert len(batched) == 3 and batched == single  # padding must not change greedy outputs
    assert backends.backend_for(judge).model is backend.model  # cached per process


def test_tiny_judge_labels_every_item_once_and_never_guesses(tiny_model, project):
    from workers.tasks.judging import start_judging

    ModelSpec.objects.create(name="tiny-spec", path_or_id=tiny_model)
    judge = LMJudge.objects.create(
        name="tiny", backend="transformers", model="tiny-spec", parameters={"max_new_tokens": 24, "batch_size": 4}
    )
    judge.projects.add(project)
    items = [factories.item(project, kind=k) for k in ["pairwise"] * 4 + ["binary", "edit"]]
    (run,) = start_judging(project)
    counts = run.metrics["judges"]["tiny"]
    # gibberish may parse or not; a run in which nothing parsed fails and says so
    assert run.state == (RunState.SUCCEEDED if counts["ok"] else RunState.FAILED), run.error
    assert counts["ok"] or f"tiny: 0 parsed, {counts['unparsed']} unparsed" in run.error
    assert run.progress == run.total == len(items)
    labels = list(Annotation.objects.filter(annotator__judge=judge))
    assert len(labels) == len(items)
    for a in labels:
        raw = a.details["raw"]
        replies = [raw["ab"]["reply"], raw["ba"]["reply"]] if a.kind == "pairwise" else [raw["reply"]]
        parser = {
            "pairwise": pairwise_kind.parse_pairwise,
            "binary": lambda r: binary_kind.parse_binary(r, project.principles),
            "edit": edit_kind.parse_edit,
        }[a.kind]
        if a.status == AnnotationStatus.UNPARSED:
            assert all(not parser(r).ok for r in replies) and a.preference is None and not a.thumbs
        else:  # whatever parsed must be exactly what the reply said
            assert any(parser(r).ok for r in replies)
    (again,) = start_judging(project)
    assert again.total == 0 and Annotation.objects.filter(annotator__judge=judge).count() == len(items)


def test_missing_model_path_fails_the_run_with_a_clear_error(project, tmp_path):
    from workers.tasks.judging import start_judging

    judge = LMJudge.objects.create(name="missing", backend="transformers", model=str(tmp_path / "nope"))
    judge.projects.add(project)
    factories.item(project)
    (run,) = start_judging(project)
    assert run.state == RunState.FAILED and "cannot load model" in run.error
    assert not Annotation.objects.exists()
