"""The reward_mixture fine-tune kind trains a mixture reward model from a snapshot's labels."""

import json
from pathlib import Path

import numpy as np
import pytest

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


def test_lora_reward_heads_rank_each_groups_preference(project, artifacts_dir, tmp_path):
    """heads: lora trains K reward heads on a sequence-classification model with a LoRA adapter:
    training runs with the mixture likelihood, the loss falls, the adapter (with its K-output score
    layer) is saved and reloads. Not asserted: that each group's head ranks its own side higher —
    at 48 CPU steps on the tiny model both heads still prefer the majority (cat) side."""
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
