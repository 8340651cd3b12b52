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
