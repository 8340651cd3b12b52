"""Snapshot → the `datasets.Dataset` a TRL trainer reads, through curation/formats.py's TRL formats.

Per-row weights from noise scores. TRL 1.16's trainers take no per-example loss weights (DPO's
`use_weighting` is WPO's policy-probability weighting, not sample weights), so noise is applied to
the data instead, honestly and reproducibly:
- `drop`:   rows with p_noise > threshold are left out;
- `sample`: each row is kept with probability 1 − p_noise (seeded), which weights the expected
            loss by 1 − p_noise at the price of variance; rows without an estimate are kept.
The number of rows kept and dropped is stored in the run's metrics.

Multi-turn prompts: when the model has a chat template, pair methods train on TRL's
conversational preference format (the whole conversation before the answer, rendered with the
template); otherwise on text rows (the last user turn as the prompt). KTO reads unpaired text rows.
"""
import random

from curation.formats import iter_export_rows

from .models import FineTuneMethod, NoiseWeighting

FORMAT = {
    FineTuneMethod.DPO: "preference", FineTuneMethod.RDPO: "preference", FineTuneMethod.IPO: "preference",
    FineTuneMethod.BCO: "preference", FineTuneMethod.REWARD: "preference", FineTuneMethod.KTO: "unpaired",
}
COLUMNS = {"preference": ["prompt", "chosen", "rejected"], "preference_conversational": ["prompt", "chosen", "rejected"],
           "unpaired": ["prompt", "completion", "label"]}


def format_for(method, conversational=False):
    fmt = FORMAT[method]
    return "preference_conversational" if conversational and fmt == "preference" else fmt


def keep_row(row, weighting, threshold, rng):
    noise = row.get("noise")
    if weighting == NoiseWeighting.NONE or noise is None:
        return True
    if weighting == NoiseWeighting.DROP:
        return noise <= threshold
    return rng.random() >= noise


def rows_for(snapshot, method, split, weighting=NoiseWeighting.NONE, threshold=0.5, seed=42, conversational=False, margin=False):
    """(rows in TRL's column names, {"kept": n, "dropped": m}) for one split; margin: keep the
    export's `margin` column (the reward trainer's Scaled BT and BT-with-margin read it)."""
    fmt = format_for(method, conversational)
    rng = random.Random(seed)
    kept, dropped = [], 0
    for row in iter_export_rows(snapshot, fmt, split=split):
        if split == "train" and not keep_row(row, weighting, threshold, rng):
            dropped += 1
            continue
        kept.append({col: row[col] for col in COLUMNS[fmt] + (["margin"] if margin else [])})
    return kept, {"kept": len(kept), "dropped": dropped}


def dataset_for(snapshot, method, split, **weighting):
    from datasets import Dataset

    rows, counts = rows_for(snapshot, method, split, **weighting)
    if not rows:
        return None, counts
    return Dataset.from_list(rows), counts


def test_pairs(snapshot, conversational=False):
    """Preference pairs of the test split (every method is evaluated on pairs)."""
    fmt = "preference_conversational" if conversational else "preference"
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in iter_export_rows(snapshot, fmt, split="test")]
