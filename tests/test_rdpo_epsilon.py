"""ε for robust DPO over the rows actually trained, per feedback kind (issue 15 item 3)."""

import pytest

from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import finetune, finetune_data, rdpo_epsilon
from workers.finetune_config import ConfigError
from workers.models import NoiseWeighting

pytestmark = [pytest.mark.django_db]


def _kept_pair_noise(snap, threshold):
    from curation.formats import iter_export_rows

    return [
        r["noise"]
        for k, r in iter_export_rows(snap, "preference", split="train", with_kind=True)
        if k == "pairwise" and r["noise"] <= threshold
    ]


def test_epsilon_after_drop_is_the_kept_pairwise_rows_mean(project):
    snap = wh.snapshot(project, pairs=40, binary=0, edits=3, epsilon=0.25)
    counts = finetune_data.rows_for(snap, "rdpo", "train", weighting=NoiseWeighting.DROP, threshold=0.2).counts
    kept = _kept_pair_noise(snap, 0.2)
    trained = counts["epsilon"]
    assert trained["pairwise"]["rows"] == len(kept) and counts["dropped"] > 0
    assert trained["pairwise"]["epsilon"] == pytest.approx(sum(kept) / len(kept))
    assert trained["pairwise"]["epsilon_low"] <= trained["pairwise"]["epsilon_high"]
    choice = rdpo_epsilon.choose(snap.epsilon, trained)
    every = _kept_pair_noise(snap, 1.0)
    assert choice.applied == pytest.approx(sum(kept) / len(kept))
    assert choice.applied < sum(every) / len(every) and choice.applied < snap.epsilon
    assert choice.snapshot == 0.25 and choice.source == "kept pairwise rows"
    # the edit rows get no ε of their own, and the run says the pairwise one reaches them
    assert trained["edit"]["rows"] > 0 and "edit rows" in choice.note


def test_build_trainer_uses_the_kept_rows_epsilon(project, tiny_model_dir, tmp_path):
    snap = wh.snapshot(project, pairs=40, binary=0, edits=0, epsilon=0.25)
    ft = finetune.create_finetune(
        snap,
        wh.model_spec(tiny_model_dir),
        "rdpo",
        config={"max_length": 64},
        noise_weighting=NoiseWeighting.DROP,
        noise_threshold=0.2,
    )
    built = finetune.build_trainer(ft, tmp_path)
    trainer, counts = built.trainer, built.counts
    kept = _kept_pair_noise(snap, 0.2)
    assert trainer.args.label_smoothing == pytest.approx(sum(kept) / len(kept))
    assert trainer.args.label_smoothing < 0.25
    assert counts["rdpo_epsilon"]["snapshot"] == 0.25 and counts["rdpo_epsilon"]["note"] == ""


def test_rdpo_refuses_rows_with_no_pairwise_epsilon(project):
    snap = wh.snapshot(project, pairs=0, binary=0, edits=4, epsilon=0.2)
    counts = finetune_data.rows_for(snap, "rdpo", "train").counts
    with pytest.raises(ConfigError, match="ε is estimated for pairwise rows only"):
        rdpo_epsilon.choose(snap.epsilon, counts["epsilon"])


def test_snapshot_without_row_estimates_falls_back_to_its_epsilon(project):
    from curation.models import SnapshotRow

    snap = wh.snapshot(project, pairs=8, binary=0, edits=0, epsilon=0.12)
    for row in SnapshotRow.objects.filter(snapshot=snap):
        SnapshotRow.objects.filter(pk=row.pk).update(data={**row.data, "p_noise": None})
    counts = finetune_data.rows_for(snap, "rdpo", "train").counts
    choice = rdpo_epsilon.choose(snap.epsilon, counts["epsilon"])
    assert (choice.applied, choice.source) == (0.12, "snapshot")


def test_build_trainer_applies_epsilon_to_pairwise_rows_only(project, tiny_model_dir, tmp_path):
    from workers.pref_trainers import TandemDPOTrainer

    snap = wh.snapshot(project, pairs=12, binary=0, edits=3, epsilon=0.25)
    ft = finetune.create_finetune(snap, wh.model_spec(tiny_model_dir), "rdpo", config={"max_length": 64})
    built = finetune.build_trainer(ft, tmp_path)
    assert isinstance(built.trainer, TandemDPOTrainer)  # reads the per-row `robust` mask
    marks = built.trainer.train_dataset["robust"]
    trained = built.counts["epsilon"]
    assert marks.count(1.0) == trained["pairwise"]["rows"] and marks.count(0.0) == trained["edit"]["rows"] > 0
    # an explicit label_smoothing is the user's flip rate for every row: TRL's own trainer, no mask
    explicit = finetune.create_finetune(
        snap, wh.model_spec(tiny_model_dir), "rdpo", config={"max_length": 64, "label_smoothing": 0.1}
    )
    plain = finetune.build_trainer(explicit, tmp_path / "explicit").trainer
    assert not isinstance(plain, TandemDPOTrainer) and "robust" not in plain.train_dataset.column_names
