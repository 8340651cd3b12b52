"""Reward-model judges end to end: a tiny sequence-classification reward model built here, and the
embedding Bradley–Terry judge trained on an explicit slice. Both store ordinary judge labels: a
direction and strength from the score margin, confidence from its size."""

import math
import random

import numpy as np
import pytest

from annotate.judging import reward_training, service
from annotate.judging.backends import BackendError
from annotate.models import Annotation, FeedbackKind, Item, LMJudge
from tests import factories
from workers.ml.reward_heads import MarginVerdict, fit_bradley_terry, verdict_from_margin
from workers.ml.tiny_models import build_tiny_reward_model
from workers.models import ModelSpec

pytestmark = pytest.mark.django_db


def test_verdict_from_margin():
    assert verdict_from_margin(0.0) == MarginVerdict(preference=0, confidence=0.0, p_b_better=0.5)
    verdict = verdict_from_margin(-3.0)
    assert verdict.preference == -3 and verdict.p_b_better < 0.05
    assert verdict.confidence == pytest.approx(abs(2 / (1 + math.exp(3)) - 1), abs=1e-4)
    assert verdict_from_margin(0.2).preference == 1 and verdict_from_margin(1.0).preference == 2


def test_bradley_terry_head_learns_a_direction_and_reads_both_orders():
    rng = np.random.default_rng(0)
    for dim in (8, 100):  # Newton's method below 64 dimensions, lbfgs above: the same objective
        w = rng.normal(size=dim)
        delta = rng.normal(size=(400, dim))
        labels = np.sign(delta @ w).astype(int)
        head = fit_bradley_terry(delta[:300], labels[:300])
        assert head.accuracy(delta[300:], labels[300:]) > 0.85
        assert np.allclose(head.margin(-delta[:5]), -head.margin(delta[:5]))  # no position bias by construction
    assert not fit_bradley_terry(np.ones((3, 4)), np.zeros(3, int)).weights.any()


def test_sequence_classification_reward_model_judges_end_to_end(project, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_tiny_reward_model(tmp_path / "rm")
    ModelSpec.objects.create(name="tiny-rm", path_or_id=path)
    judge = LMJudge.objects.create(name="rm", backend="reward_model", model="tiny-rm", parameters={"batch_size": 3})
    judge.projects.add(project)
    items = [
        factories.item(project, text_a=f"The capital is Paris {'!' * i}", text_b=f"I cannot help {i}") for i in range(5)
    ]
    factories.item(project, kind="binary", text_a="a single answer")  # a reward model compares two responses only
    result = service.judge_project(project)
    assert result["judges"]["rm"]["ok"] == 5 and Annotation.objects.filter(annotator__judge=judge).count() == 5
    # the same scores, one text at a time, without the backend (batching and padding must not change them)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    for item in items:
        label = Annotation.objects.get(item=item, annotator__judge=judge)
        scores = []
        for response in (item.response_a, item.response_b):
            text = tok.apply_chat_template(
                [{"role": "user", "content": item.prompt.text}, {"role": "assistant", "content": response.text}],
                tokenize=False,
            )
            with torch.no_grad():
                scores.append(model(**tok(text, return_tensors="pt")).logits[0, 0].item())
        assert label.details["scores"]["a"] == pytest.approx(scores[0], abs=1e-3)
        assert label.details["scores"]["b"] == pytest.approx(scores[1], abs=1e-3)
        verdict = verdict_from_margin(scores[1] - scores[0])
        assert label.preference == verdict.preference
        assert label.confidence == pytest.approx(verdict.confidence, abs=1e-3)
        assert np.sign(label.preference) == np.sign(scores[1] - scores[0]) and label.kind == FeedbackKind.PAIRWISE
    assert service.judge_project(project)["judges"]["rm"]["ok"] == 0  # idempotent: nothing left to label
    missing = LMJudge.objects.create(name="gone", backend="reward_model", model=str(tmp_path / "nothing-here"))
    with pytest.raises(BackendError, match="cannot load reward model"):
        service.judge_items(missing, items)


POLITE = [
    "Sure! Here is a clear, step-by-step answer to your question about {t}, with an example.",
    "Happy to help with {t}: the short answer, then the details and a tip to get it right.",
    "Good question about {t}. Here is what works, why it works, and what to avoid.",
]
RUDE = [
    "Figure out {t} yourself, I am not doing your homework.",
    "Whatever. {t} is boring, go away.",
    "No. Stop asking me about {t}.",
]
TOPICS = [
    "baking bread",
    "python lists",
    "tax forms",
    "gardening",
    "learning French",
    "fixing a bike",
    "chess openings",
    "saving money",
    "running a 10k",
    "writing a CV",
    "painting walls",
    "sleep",
]


def test_embedding_reward_model_judge_trains_on_a_slice_and_labels_the_rest(project):
    rng = random.Random(0)
    user = factories.user("labeller", project=project)
    human = factories.human(user)
    items, truth = [], {}
    for i in range(36):
        topic = TOPICS[i % len(TOPICS)]
        good, bad = rng.choice(POLITE).format(t=topic), rng.choice(RUDE).format(t=topic)
        good_is_b = rng.random() < 0.5
        item = factories.item(project, text_a=bad if good_is_b else good, text_b=good if good_is_b else bad)
        truth[item.pk] = 1 if good_is_b else -1
        items.append(item)
    training = items[:20]
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=human, kind="pairwise", preference=2 * truth[it.pk]) for it in training]
    )
    judge = LMJudge.objects.create(name="emb", backend="embedding_rm", model="all-MiniLM-L6-v2")
    judge.projects.add(project)
    with pytest.raises(BackendError, match="not been trained"):
        service.judge_project(project)
    with pytest.raises(ValueError, match="at least"):
        reward_training.train_embedding_judge(judge, [it.pk for it in items[20:]])  # no human labels there
    assert sorted(reward_training.default_training_slice(project)) == [it.pk for it in training]
    trained = reward_training.train_embedding_judge(judge, [it.pk for it in training])
    assert trained.labelled_pairs == 20 and trained.train_accuracy == 1.0
    service.judge_project(project)
    labels = {a.item_id: a for a in Annotation.objects.filter(annotator__judge=judge)}
    assert set(labels) == {it.pk for it in items[20:]}  # never labels what it learned from
    right = [np.sign(labels[it.pk].preference) == truth[it.pk] for it in items[20:]]
    assert np.mean(right) >= 0.8
    assert all(0 <= a.confidence <= 1 and a.details["source"] == "reward_model" for a in labels.values())


def test_a_judges_training_items_stay_out_of_the_calibration_slice(project):
    """Every item has a human label and no slice exists yet: the slice is drawn before the judge's
    training items are chosen, and growing it later never takes them (the judge does not label
    the items it learned from, and the slice needs judge labels)."""
    from curation import calibration

    human = factories.human(factories.user("everyone", project=project))
    items = [factories.item(project, text_a=f"a{i}", text_b=f"b{i}") for i in range(120)]
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=human, kind="pairwise", preference=1) for it in items]
    )
    training = calibration.judge_training_slice(project, limit=500)
    in_slice = set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True))
    assert len(in_slice) == calibration.DEFAULT_MINIMUM and not in_slice & set(training)
    assert len(training) == len(items) - len(in_slice)
    judge = LMJudge.objects.create(
        name="emb", backend="embedding_rm", model="m", parameters={"training_items": training[:40]}
    )
    judge.projects.add(project)
    from workers import runs

    queued = runs.create_run("judge_training", project=project, params={"judge_id": 0, "item_ids": training[40:45]})
    grown = set(calibration.ensure_slice(project, fraction=0.6, minimum=0, seed=1))
    assert len(grown) == 72 and grown >= in_slice and not grown & set(training[:45])  # trained, or queued to
    assert queued.state == "queued"
    calibration.judge_training_slice(project, limit=10)  # training again keeps the slice as it is
    assert Item.objects.filter(project=project, calibration=True).count() == 72
    # what a judge's free-form parameters hold cannot stop the slice being drawn
    LMJudge.objects.create(name="odd", backend="embedding_rm", model="m", parameters={"training_items": "ab"})
    LMJudge.objects.filter(name="odd").get().projects.add(project)
    assert calibration.judge_training_items(project) == set(training[:45])  # trained on, and queued


def test_a_small_slice_drawn_by_routing_is_not_grown_by_training_a_judge(project):
    from curation import calibration

    human = factories.human(factories.user("everyone", project=project))
    items = [factories.item(project, text_a=f"a{i}", text_b=f"b{i}") for i in range(600)]
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=human, kind="pairwise", preference=1) for it in items]
    )
    drawn = set(calibration.ensure_slice(project, fraction=0.02, minimum=0, seed=0))
    training = calibration.judge_training_slice(project, limit=100)
    assert (
        len(drawn) == 12
        and set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True)) == drawn
    )
    assert len(training) == 100 and not set(training) & drawn


def test_a_manager_trains_the_embedding_judge_outside_the_slice_and_it_labels_the_rest(client, project, manager_user):
    from django.urls import reverse

    rng = random.Random(1)
    human = factories.human(factories.user("labeller", project=project))
    items = []
    for i in range(70):
        topic = TOPICS[i % len(TOPICS)]
        good, bad = rng.choice(POLITE).format(t=topic), rng.choice(RUDE).format(t=topic)
        items.append(factories.item(project, text_a=good, text_b=bad))
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=human, kind="pairwise", preference=-2) for it in items]
    )
    judge = LMJudge.objects.create(name="emb", backend="embedding_rm", model="all-MiniLM-L6-v2")
    judge.projects.add(project)
    client.force_login(manager_user)
    page = client.get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "<td>Embedding reward model (Bradley" in page  # the backend's name in the judges table
    r = client.post(reverse("curation:train_judge", args=[project.pk, judge.pk]), {"max_items": 15}, follow=True)
    from workers.models import TaskRun

    run = TaskRun.objects.get(project=project, kind="judge_training")  # a run kind of its own, not "LM judging"
    assert f"Judge training (emb, 15 items): run {run.pk} succeeded." in r.content.decode()
    status = client.get(reverse("workers:run", args=[project.pk, run.pk])).content.decode()
    assert "Judge training" in status and "0 / ?" not in status
    judge.refresh_from_db()
    trained_on = set(judge.parameters["training_items"])
    in_slice = set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True))
    assert len(trained_on) == 15 and len(in_slice) == 50 and not trained_on & in_slice
    service.judge_project(project)
    judged = set(Annotation.objects.filter(annotator__judge=judge).values_list("item_id", flat=True))
    assert judged == {it.pk for it in items} - trained_on and in_slice <= judged


def test_a_reward_model_trained_on_one_projects_data_serves_only_that_projects_judges(project, tmp_path):
    """Managers may add reward-model judges; a fine-tune or model registered to another project
    must not become theirs by naming it (`finetune:<run id>` ids are sequential)."""
    from annotate.judging.reward_backends import resolve_reward_model
    from workers.models import FineTuneRun, TaskRun

    theirs = factories.project()
    snapshot_run = TaskRun.objects.create(kind="finetune", project=theirs)
    spec = ModelSpec.objects.create(name="their-rm", path_or_id=str(tmp_path), project=theirs)
    from tests import workers_helpers as wh

    FineTuneRun.objects.create(
        run=snapshot_run,
        snapshot=wh.snapshot(theirs, pairs=2, binary=0, edits=0),
        model_spec=spec,
        method="reward",
        output_dir=str(tmp_path),
    )
    for model in (f"finetune:{snapshot_run.pk}", "their-rm"):
        judge = LMJudge.objects.create(name=f"rm-{model}", backend="reward_model", model=model)
        judge.projects.add(project)
        with pytest.raises(BackendError, match="belongs to one project"):
            resolve_reward_model(judge)
        judge.projects.set([theirs])
        assert resolve_reward_model(judge).startswith(str(tmp_path))  # their own judge may use it
    with pytest.raises(BackendError, match="no finished reward-model fine-tune run"):
        resolve_reward_model(LMJudge(name="x", backend="reward_model", model="finetune:abc"))
    FineTuneRun.objects.filter(run=snapshot_run).update(method="dpo")  # a policy, not a reward model
    judge = LMJudge.objects.create(name="policy", backend="reward_model", model=f"finetune:{snapshot_run.pk}")
    judge.projects.set([theirs])
    with pytest.raises(BackendError, match="no finished reward-model fine-tune run"):
        resolve_reward_model(judge)
