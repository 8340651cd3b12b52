"""Measuring a label mix the way Hybrid Preferences does: train a proxy reward model on the mix,
score it on held-out items against reference labels.

The proxy reward model is the embedding Bradley–Terry head (`workers.ml.reward_heads`). The held-out
reference is gold where there is gold, else the people's consensus, else a person's label; it never
contains an item of the training mix (`mix_accuracy` refuses), and a router's predictions never
enter it: curves here are measurements, not predictions.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from annotate.errors import Invalid
from workers.ml.reward_heads import fit_bradley_terry

BUDGETS = [round(b / 10, 1) for b in range(11)]


@dataclass
class LabelledPairs:
    """Items that can enter a training mix: e(B) − e(A) per item, and both kinds of label (±1, 0 = none)."""

    ids: np.ndarray
    delta: np.ndarray
    human: np.ndarray
    judge: np.ndarray

    def take(self, rows):
        return LabelledPairs(self.ids[rows], self.delta[rows], self.human[rows], self.judge[rows])

    def __len__(self):
        return len(self.ids)


@dataclass
class Reference:
    """Held-out items with reference labels (±1) and where those labels came from."""

    ids: np.ndarray
    delta: np.ndarray
    labels: np.ndarray
    source: str = "human"

    def __len__(self):
        return len(self.ids)


class LeakError(Invalid, ValueError):
    """A held-out item is also in the training mix: the measurement would not be held out."""


def mix_labels(pool: LabelledPairs, to_humans: np.ndarray) -> np.ndarray:
    """The mix: a person's label where routed to humans (the judges' where the person left none), else the judges'."""
    to_humans = np.asarray(to_humans, bool)
    return np.where(to_humans & (pool.human != 0), pool.human, pool.judge)


def mix_accuracy(pool: LabelledPairs, to_humans: np.ndarray, heldout: Reference, C: float = 1.0) -> float | None:
    """Held-out accuracy of a proxy reward model trained on the pool with the mix's labels."""
    overlap = np.intersect1d(pool.ids, heldout.ids)
    if len(overlap):
        raise LeakError(f"{len(overlap)} held-out items are in the training mix (e.g. item {int(overlap[0])})")
    if not len(heldout):
        raise ValueError("no held-out reference items")
    head = fit_bradley_terry(pool.delta, mix_labels(pool, to_humans), C=C)
    return head.accuracy(heldout.delta, heldout.labels)


Chooser = Callable[[int], np.ndarray]  # k → indices into the pool sent to humans


def order_chooser(order: np.ndarray) -> Chooser:
    """Send the first k items of a ranking to humans."""
    order = np.asarray(order)
    return lambda k: order[:k]


def measured_curve(
    pool: LabelledPairs, chooser: Chooser, heldout: Reference, budgets: Sequence[float] = BUDGETS, C: float = 1.0
) -> list[tuple[float, float | None]]:
    """[(budget, held-out accuracy), ...]: for each budget, humans label the items `chooser` picks."""
    out: list[tuple[float, float | None]] = []
    for b in budgets:
        k = int(round(b * len(pool)))
        mask = np.zeros(len(pool), bool)
        mask[np.asarray(chooser(k), int)] = True
        out.append((b, mix_accuracy(pool, mask, heldout, C=C)))
    return out


@dataclass
class CurveSummary:
    """Mean and sd over seeds per budget, and the all-human / all-judge reference accuracies."""

    budgets: list
    mean: dict  # strategy → [accuracy per budget]
    sd: dict
    all_human: tuple  # (mean, sd)
    all_judge: tuple
    seeds: int
    pool_size: float
    heldout_size: float
    reference: str
    notes: list = field(default_factory=list)  # why a strategy has no curve (its model could not be fitted)

    def to_json(self):
        r = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 4)  # noqa: E731
        return {
            "budgets": self.budgets,
            "mean": {s: [r(v) for v in vs] for s, vs in self.mean.items()},
            "sd": {s: [r(v) for v in vs] for s, vs in self.sd.items()},
            "all_human": [r(v) for v in self.all_human],
            "all_judge": [r(v) for v in self.all_judge],
            "seeds": self.seeds,
            "pool_size": self.pool_size,
            "heldout_size": self.heldout_size,
            "reference": self.reference,
            "notes": self.notes,
            "measured": True,
        }


def summarise(per_seed, all_human, all_judge, budgets, pool_size, heldout_size, reference):
    """per_seed: [{strategy: [acc per budget]}] → CurveSummary (NaN-safe mean and sd)."""
    strategies = list(per_seed[0]) if per_seed else []
    mean, sd = {}, {}
    with warnings.catch_warnings():  # a strategy with no fitted router in any seed is all-NaN: reported as missing
        warnings.simplefilter("ignore", RuntimeWarning)
        for s in strategies:
            rows = np.array([[np.nan if v is None else v for v in seed[s]] for seed in per_seed], float)
            mean[s] = np.nanmean(rows, axis=0).tolist()
            sd[s] = np.nanstd(rows, axis=0).tolist()
    h = np.array([np.nan if v is None else v for v in all_human], float)
    j = np.array([np.nan if v is None else v for v in all_judge], float)
    return CurveSummary(
        list(budgets),
        mean,
        sd,
        (float(np.nanmean(h)), float(np.nanstd(h))),
        (float(np.nanmean(j)), float(np.nanstd(j))),
        len(per_seed),
        pool_size,
        heldout_size,
        reference,
    )
