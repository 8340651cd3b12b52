"""Which ε robust DPO (TRL's loss_type="robust", `label_smoothing`) trains with.

rDPO (Chowdhury et al. 2024) takes one flip rate for the whole training set. Tandem gives it the
mean posterior flip probability of the *pairwise rows the run keeps* (finetune_data.trained_epsilon),
measured after noise weighting: after `drop`/`sample` the kept rows are cleaner than the
snapshot, and the snapshot's pre-filter ε would over-correct them. Both numbers are recorded.

Per kind: ε is estimated for pairwise rows only, and applied only to them. Edit-derived pairs
(edited ≻ original) have no estimate of their own; when a run also trains on them, they train with
ε = 0 (DPO's sigmoid loss) through Tandem's DPO trainer and its per-row `robust` mask
(finetune_data.rows_for, pref_trainers.py), and the run says so (log and metrics). A run whose
training rows hold no pairwise row is refused: no ε was estimated for what it trains on. An
explicit `label_smoothing` in the config is the user's own flip rate and applies to every row.
"""

from dataclasses import dataclass
from typing import Any

from workers.finetune_config import ConfigError

MAX_EPSILON = 0.49  # rDPO's loss divides by 1 − 2ε


@dataclass(frozen=True)
class EpsilonChoice:
    applied: float
    source: str  # "kept pairwise rows" or "snapshot"
    snapshot: float | None  # the snapshot's pre-filter ε
    trained: dict | None  # finetune_data.KindEpsilon of the kept pairwise rows, as a dict
    note: str = ""


def choose(snapshot_epsilon: float | None, trained: dict[str, dict[str, Any]]) -> EpsilonChoice:
    """trained: {kind: KindEpsilon as a dict} of the run's kept training rows."""
    pairs = trained.get("pairwise") or {}
    others = {k: v["rows"] for k, v in trained.items() if k != "pairwise" and v["rows"]}
    if not pairs.get("rows"):
        raise ConfigError(
            "rdpo: the training rows hold no pairwise row ("
            + ", ".join(f"{n} {k}" for k, n in others.items())
            + "), and ε is estimated for pairwise rows only; train these rows with dpo, or set label_smoothing "
            "explicitly if you know their flip rate from elsewhere"
        )
    if pairs.get("epsilon") is not None:
        applied, source = pairs["epsilon"], "kept pairwise rows"
    else:  # the kept rows carry no per-row estimate: the snapshot's ε is the best there is
        applied, source = snapshot_epsilon, "snapshot"
    note = ""
    if others:
        note = (
            f"ε applied to the pairwise rows only: {', '.join(f'{n} {k} rows' for k, n in others.items())} "
            "train with ε = 0 (the sigmoid loss), as they have no flip-rate estimate of their own"
        )
    return EpsilonChoice(min(max(float(applied), 0.0), MAX_EPSILON), source, snapshot_epsilon, pairs or None, note)
