"""The reward_mixture fine-tune kind trains a mixture reward model from a snapshot's labels."""

import json
from pathlib import Path

import numpy as np
import pytest

from curation.formats import iter_export_rows
from curation.snapshots import freeze_snapshot
from tests import workers_helpers as wh
from tests.test_pluralism import _cats_and_dogs
from tests.workers_helpers import artifacts_dir  # noqa: F401
from workers import finetune
from workers.models import ModelSpec, TaskRun
from workers.tasks.finetune import finetune as finetune_task

pytestmark = pytest.mark.django_db


def test_mixture_reward_model_trains_from_a_snapshot(project, artifacts_dir):
    _cats_and_dogs(project)
    snapshot = freeze_snapshot(project, test_fraction=0.2)
    spec = ModelSpec.objects.create(name="unused-by-mixture", path_or_id="none")
    ft = finetune.create_finetune(snapshot, spec, "reward_mixture", config={"k_max": 3})
    assert finetune_task.delay(ft.run_id).get() == "succeeded", TaskRun.objects.get(pk=ft.run_id).error
    ft.refresh_from_db()
    ft.run.refresh_from_db()
    assert ft.run.metrics["k"] == 2
    saved = np.load(Path(ft.output_dir) / "mixture.npz")
    assert saved["heads"].shape[0] == 2 and saved["weights"].shape == (6, 2)
    assert json.loads((Path(ft.output_dir) / "metrics.json").read_text())["evaluation"] == ft.evaluation
    # Known annotators are predicted with their own group: near-perfect on held-back prompts.
    assert ft.evaluation["pairs"] > 0 and ft.evaluation["accuracy"] > 0.9


def test_mixture_config_is_checked_before_queueing(project):
    snapshot = wh.snapshot(project, pairs=4, binary=0, edits=0)
    spec = ModelSpec.objects.create(name="unused", path_or_id="none")
    with pytest.raises(finetune.ConfigError, match="k_max"):
        finetune.create_finetune(snapshot, spec, "reward_mixture", config={"beta": 0.1})
    assert not TaskRun.objects.filter(kind="finetune").exists()


@pytest.mark.slow  # about 20 s of CPU training
def test_lora_reward_heads_rank_each_groups_preference(project, artifacts_dir, tmp_path):
    """heads: lora trains K reward heads on a sequence-classification model with a LoRA adapter
    (a tiny Llama built here): the loss falls, the adapter (with its K-output score layer) is saved
    and reloads, and on held-out prompts (the snapshot's test split) each group's head ranks its own
    group's side above the other: the cat head prefers the cat answer for cat people and the dog
    answer never, and the other way round. (The loss once read every label as "chosen ≻ rejected",
    the curated majority side, so both heads learned the cat side; the label's preference sign is
    what tells a dog person's label apart.)"""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from curation.labels import pseudonym
    from workers.ml.tiny_models import build_tiny_reward_model
    from workers.reward_mixture import score_heads

    cats, dogs, _, _ = _cats_and_dogs(project)
    snapshot = freeze_snapshot(project, test_fraction=0.2)
    texts = [
        "Cats are the best pets: independent, quiet and clean.",
        "Dogs are the best pets: loyal, playful and protective.",
        "Which pet should I get, question 12?",
    ]
    base = build_tiny_reward_model(tmp_path / "rm", extra_texts=texts)
    spec = ModelSpec.objects.create(name="tiny-rm", path_or_id=base, max_length=128)
    config = {
        "heads": "lora",
        "k_max": 3,
        "num_train_epochs": 4,
        "learning_rate": 0.005,
        "per_device_train_batch_size": 16,
    }
    ft = finetune.create_finetune(snapshot, spec, "reward_mixture", config=config, lora={"r": 4, "lora_alpha": 8})
    assert finetune_task.delay(ft.run_id).get() == "succeeded", TaskRun.objects.get(pk=ft.run_id).error
    ft.refresh_from_db()
    out = Path(ft.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["heads"] == "lora" and metrics["k"] == 2 and metrics["steps"] > 0
    assert np.mean(metrics["losses"][-5:]) < np.mean(metrics["losses"][:5])
    assert (out / "adapter" / "adapter_config.json").exists() and (
        out / "adapter" / "adapter_model.safetensors"
    ).exists()
    assert ft.evaluation["pairs"] > 0 and ft.evaluation["accuracy"] > 0.6

    saved = np.load(out / "mixture.npz")
    group_of = dict(zip(saved["annotators"], saved["weights"].argmax(axis=1)))
    cat_head, dog_head = group_of[pseudonym(cats[0].pk)], group_of[pseudonym(dogs[0].pk)]
    assert cat_head != dog_head
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, ignore_mismatched_sizes=True)
    model.config.pad_token_id = AutoTokenizer.from_pretrained(base).pad_token_id
    model = PeftModel.from_pretrained(model, str(out / "adapter")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out / "adapter"))
    r = score_heads(
        model,
        tokenizer,
        "Which pet should I get, question 100?",
        [
            "Cats are the best pets: independent, quiet and clean (100).",
            "Dogs are the best pets: loyal, playful and protective (100).",
        ],
    )
    assert r.shape == (2, 2) and np.isfinite(r).all()
    assert model.base_model.model.score.modules_to_save["default"].weight.shape[0] == 2

    # Each head ranks its own group's side on held-out pairs; the other head ranks it below.
    test_rows = [row for row in iter_export_rows(snapshot, "labels", split="test") if row["preference"]]
    assert {row["prompt"] for row in test_rows}.isdisjoint(
        {row["prompt"] for row in iter_export_rows(snapshot, "labels", split="train")}
    )
    for people, head in ((cats, cat_head), (dogs, dog_head)):
        mine = [row for row in test_rows if row["annotator"] in {pseudonym(p.pk) for p in people}]
        assert len(mine) >= 8
        own_side_wins = np.zeros(2)
        for row in mine:
            chosen, rejected = score_heads(model, tokenizer, row["prompt"], [row["chosen"], row["rejected"]])
            own_side_wins += np.sign(row["preference"]) * (chosen - rejected) > 0
        rate = own_side_wins / len(mine)
        assert rate[head] > 0.7 and rate[1 - head] < 0.3, (people[0].name, rate)


def test_lora_settings_need_lora_heads(project):
    snapshot = wh.snapshot(project, pairs=4, binary=0, edits=0)
    spec = ModelSpec.objects.create(name="unused", path_or_id="none")
    with pytest.raises(finetune.ConfigError, match="heads: lora"):
        finetune.create_finetune(snapshot, spec, "reward_mixture", config={"k_max": 2}, lora={"r": 4})
    with pytest.raises(finetune.ConfigError, match="heads must be one of"):
        finetune.create_finetune(snapshot, spec, "reward_mixture", config={"heads": "gpu"})
    with pytest.raises(finetune.ConfigError, match="LoRA field"):
        finetune.create_finetune(snapshot, spec, "reward_mixture", config={"heads": "lora"}, lora={"push_to_hub": True})
    assert not TaskRun.objects.filter(kind="finetune").exists()
