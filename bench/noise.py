"""Noise benchmark: a synthetic preference dataset with known annotator accuracies and injected
flips; prints flip-detection AUROC (Dawid–Skene's p_wrong, and the k-NN and judge signals on their
own), |ε̂ − ε| and whether the 95 % interval covers the true flip rate.

    python bench/noise.py [--items 2000] [--seed 0] [--flip-rate 0.1] [--difficulty-seeds 3]

Truth: y = sign(w·x) over 16-d pair features x (the stand-in for e(B) − e(A)). People (known
accuracies 0.6..0.95) label 1–3 each; one LM judge (accuracy 0.8) labels every item; on a
`flip_rate` share of items one person's label is flipped regardless of their accuracy (a
mislabel). The aggregated label is the people's majority (ties left out), as in Tandem.
A flip is an aggregated label that differs from the truth; ε is their share.

Item-dependent difficulty (`synthetic_difficulty`, one extra row): each item has an ease
e ∈ [0, 1] (a third of items near 0: close to coin flips for everyone) and a labeller of accuracy a
is right with probability 0.5 + (a − 0.5)·e; 3–5 people per item, no judge. Over several seeds the
row says how often Dawid–Skene's and GLAD's 95 % ε intervals cover the true flip rate.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic(items=2000, seed=0, flip_rate=0.1, dim=16, people=8, single=False):
    """single: one person's label per item and no judge (issue 17's case: ε must be withheld)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(items, dim))
    w = rng.normal(size=dim)
    truth = np.where(x @ w > 0, 1, -1)
    accuracy = {f"person{i}": round(float(a), 3) for i, a in enumerate(np.linspace(0.6, 0.95, people))}
    names = list(accuracy)
    labels, aggregated = [], {}
    injected = set(rng.choice(items, int(flip_rate * items), replace=False).tolist())
    for i in range(items):
        overlap = 1 if single else rng.choice([1, 2, 3], p=[0.3, 0.3, 0.4])
        votes = 0
        for j, who in enumerate(rng.choice(names, overlap, replace=False)):
            d = truth[i] if rng.random() < accuracy[who] else -truth[i]
            if j == 0 and i in injected:
                d = -truth[i]
            labels.append((i, who, int(d)))
            votes += d
        if votes:
            aggregated[i] = 1 if votes > 0 else -1
        if not single:
            labels.append((i, "judge", int(truth[i] if rng.random() < 0.8 else -truth[i])))
    features = {i: x[i] for i in range(items)}
    flipped = {i: aggregated[i] != truth[i] for i in aggregated}
    return labels, aggregated, features, flipped, accuracy


def synthetic_difficulty(items=600, seed=0, people=8):
    """(labels, aggregated, flipped) with item-dependent difficulty (see the module docstring)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice([-1, 1], items)
    ease = np.where(rng.random(items) < 1 / 3, rng.uniform(0, 0.2, items), rng.uniform(0.6, 1.0, items))
    accuracy = dict(zip([f"person{i}" for i in range(people)], np.linspace(0.65, 0.95, people)))
    labels, aggregated = [], {}
    for i in range(items):
        votes = 0
        for who in rng.choice(list(accuracy), rng.integers(3, 6), replace=False):
            right = rng.random() < 0.5 + (accuracy[who] - 0.5) * ease[i]
            d = int(truth[i] if right else -truth[i])
            labels.append((i, str(who), d))
            votes += d
        if votes:
            aggregated[i] = 1 if votes > 0 else -1
    return labels, aggregated, {i: aggregated[i] != truth[i] for i in aggregated}


def difficulty_coverage(seeds=3, items=300):
    """{aggregator: {"covered": n of seeds, "error": mean |ε̂ − ε|, "seconds": mean}} on synthetic_difficulty."""
    from curation.noise import AGGREGATORS, estimate

    out = {a: {"covered": 0, "error": 0.0, "bias": 0.0, "seconds": 0.0} for a in AGGREGATORS}
    for seed in range(seeds):
        labels, aggregated, flipped = synthetic_difficulty(items, seed)
        eps_true = float(np.mean([flipped[i] for i in aggregated]))
        for name in AGGREGATORS:
            t0 = time.perf_counter()
            est = estimate(labels, aggregated, seed=seed, n_boot=500, aggregator=name)
            out[name]["seconds"] += (time.perf_counter() - t0) / seeds
            out[name]["covered"] += est.epsilon_low <= eps_true <= est.epsilon_high
            out[name]["error"] += abs(est.epsilon - eps_true) / seeds
            out[name]["bias"] += (est.epsilon - eps_true) / seeds
    return out


def run(items=2000, seed=0, flip_rate=0.1, single=False):
    from curation.noise import auroc, estimate

    labels, aggregated, features, flipped, accuracy = synthetic(items, seed, flip_rate, single=single)
    t0 = time.perf_counter()
    est = estimate(labels, aggregated, features=features, judges={"judge"}, k=15, seed=seed)
    seconds = time.perf_counter() - t0
    ids = sorted(est.p_wrong)
    truth = [flipped[i] for i in ids]
    eps_true = float(np.mean(truth))
    result = {
        "items": len(ids),
        "epsilon_true": eps_true,
        "epsilon_hat": est.epsilon,
        "epsilon_ci": (est.epsilon_low, est.epsilon_high),
        "epsilon_error": abs(est.epsilon - eps_true),
        "auroc": auroc([est.p_wrong[i] for i in ids], truth) if len(set(truth)) == 2 else float("nan"),
        "seconds": seconds,
        "signal_auroc": {},
        "coverage": est.coverage.enough,
        "epsilon_covered": est.epsilon_low <= eps_true <= est.epsilon_high,
        "reliability": {
            w: (est.reliability.get(w), accuracy.get(w, 0.8 if w == "judge" else None)) for w in sorted(est.reliability)
        },
    }
    for signal in ("knn_disagreement", "judge_disagreement"):
        have = [i for i in ids if est.signals[i].get(signal) is not None]
        if have and len({flipped[i] for i in have}) == 2:
            result["signal_auroc"][signal] = auroc([est.signals[i][signal] for i in have], [flipped[i] for i in have])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flip-rate", type=float, default=0.1)
    parser.add_argument("--single", action="store_true", help="one label per item, no judge: ε must be withheld")
    parser.add_argument("--difficulty-seeds", type=int, default=3, help="seeds of the item-difficulty row (0: skip)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or str(ROOT / "bench" / "results" / ("noise_single.txt" if args.single else "noise.txt"))
    r = run(args.items, args.seed, args.flip_rate, single=args.single)
    lines = [
        f"noise benchmark: {r['items']} synthetic pairs, injected flip rate {args.flip_rate}, seed {args.seed}"
        + (", one label per item, no judge" if args.single else ""),
        f"flip-detection AUROC (Dawid–Skene over people + judge): {r['auroc']:.3f}",
        f"signals enough for ε: {r['coverage']}",
        *[f"  AUROC {name}: {value:.3f}" for name, value in r["signal_auroc"].items()],
        f"epsilon true {r['epsilon_true']:.4f}  estimated {r['epsilon_hat']:.4f}  "
        f"95% CI [{r['epsilon_ci'][0]:.4f}, {r['epsilon_ci'][1]:.4f}] (covers the truth: {r['epsilon_covered']})  "
        f"|error| {r['epsilon_error']:.4f}",
        "annotator reliability (Dawid–Skene estimate vs true accuracy):",
        *[f"  {w:10s} {est:.3f} vs {true if true is not None else '—'}" for w, (est, true) in r["reliability"].items()],
        f"estimation time {r['seconds']:.2f} s",
    ]
    if args.difficulty_seeds and not args.single:
        d = difficulty_coverage(args.difficulty_seeds)
        lines.append(
            f"item-dependent difficulty ({args.difficulty_seeds} seeds, 300 items, 3–5 people each): "
            "95% ε interval covers the true flip rate in "
            + "; ".join(
                f"{name} {v['covered']}/{args.difficulty_seeds} (mean |error| {v['error']:.4f}, mean ε̂ − ε {v['bias']:+.4f}, "
                f"{v['seconds']:.2f} s)"
                for name, v in d.items()
            )
        )
    print("\n".join(lines))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    main()
