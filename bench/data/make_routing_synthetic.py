"""A synthetic preference set with known structure, for the routing simulation and its test.

Every item has a true preference, a noisy but unbiased human label, and labels from a jury of two
LM judges whose errors have structure the router can learn:
- on math and code prompts the judges are barely better than a coin (hard domains);
- when one response is much longer than the other the judges pick the longer one (length bias),
  whatever its quality: systematic errors a reward model trained on judge labels learns.
Elsewhere the judges are more accurate than a single human (0.95 vs 0.8).
With `independent=True` the judges instead err at random, at one rate everywhere
(INDEPENDENT_JUDGE_ACCURACY), independent of every feature: no router can know where they err.

Each response carries a latent vector (`vec_a`, `vec_b`: quality features + log length) standing in
for an embedding, so the reward model in bench/routing.py trains in milliseconds.
Deterministic: the same (n, seed) gives the same file.

    python bench/data/make_routing_synthetic.py --n 4000 --seed 0 --out bench/data/routing_synthetic.jsonl
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

DOMAINS = {
    "code": (
        "Write a python function that {x}.",
        ["def", "return", "list", "loop", "index", "python", "value", "function"],
    ),
    "math": (
        "Solve the equation and calculate {x}.",
        ["equation", "sum", "derivative", "prime", "integral", "solve", "number", "proof"],
    ),
    "creative": ("Write a poem about {x}.", ["moon", "river", "light", "memory", "stone", "wind", "song", "heart"]),
    "general": (
        "What is the best way to {x}?",
        ["time", "people", "place", "simple", "useful", "idea", "home", "plan"],
    ),
    "history": (
        "Explain the history of {x}.",
        ["empire", "century", "war", "ancient", "trade", "king", "revolution", "city"],
    ),
}
TOPICS = [
    "the ocean",
    "a small garden",
    "old maps",
    "trains",
    "coffee",
    "a city at night",
    "winter",
    "bees",
    "reverse a list",
    "sort numbers",
    "compound interest",
    "the roman roads",
    "learn a language",
    "x^2 + 3x = 10",
]
HARD = {"code", "math"}
DIM = 10
HUMAN_ACCURACY = 0.8
JUDGE_ACCURACY = 0.95
HARD_JUDGE_ACCURACY = 0.55
INDEPENDENT_JUDGE_ACCURACY = 0.8
LENGTH_BIAS_THRESHOLD = 1.0  # |log length ratio| above which the judges pick the longer response


def _strength(delta):
    return int(min(3, 1 + abs(delta) // 1.0))


def _label(sign, strength):
    return int(sign * strength)


def generate(n=4000, seed=0, independent=False):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=DIM)
    w = 1.5 * w / np.linalg.norm(w)
    rows = []
    names = list(DOMAINS)
    for i in range(n):
        domain = names[rng.integers(len(names))]
        template, vocab = DOMAINS[domain]
        prompt = template.format(x=TOPICS[rng.integers(len(TOPICS))])
        lengths = np.exp(rng.normal(4.0, 0.8, size=2)).astype(int) + 3
        qa, qb = rng.normal(size=(2, DIM))
        ua, ub = qa @ w + rng.normal(0, 0.3), qb @ w + rng.normal(0, 0.3)
        delta = ub - ua
        truth = _label(1 if delta > 0 else -1, _strength(delta))
        human = truth if rng.random() < HUMAN_ACCURACY else -truth
        log_ratio = math.log(lengths[1] / lengths[0])
        judges, confidence = {}, {}
        for j in (
            ("judge-1",) if independent else ("judge-1", "judge-2")
        ):  # one judge: a jury's split would be a feature
            if independent:
                verdict = truth if rng.random() < INDEPENDENT_JUDGE_ACCURACY else -truth
                conf = rng.uniform(0.4, 1.0)
            elif abs(log_ratio) > LENGTH_BIAS_THRESHOLD:
                verdict = _label(1 if log_ratio > 0 else -1, 2)  # the longer one, confidently
                conf = rng.uniform(0.7, 1.0)
            else:
                acc = HARD_JUDGE_ACCURACY if domain in HARD else JUDGE_ACCURACY
                verdict = truth if rng.random() < acc else -truth
                conf = rng.uniform(0.4, 0.9) if domain in HARD else rng.uniform(0.6, 1.0)
            judges[j], confidence[j] = verdict, round(float(conf), 3)
        texts = [" ".join(rng.choice(vocab, size=L)) for L in lengths]
        rows.append(
            {
                "id": i,
                "prompt": prompt,
                "response_a": texts[0],
                "response_b": texts[1],
                "domain": domain,
                "truth": truth,
                "human": human,
                "judges": judges,
                "judge_confidence": confidence,
                "vec_a": [round(float(v), 4) for v in qa] + [round(math.log(lengths[0]), 4)],
                "vec_b": [round(float(v), 4) for v in qb] + [round(math.log(lengths[1]), 4)],
            }
        )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).with_name("routing_synthetic.jsonl")))
    args = ap.parse_args()
    with open(args.out, "w") as f:
        for row in generate(args.n, args.seed):
            f.write(json.dumps(row) + "\n")
    print(f"wrote {args.n} rows to {args.out}")


if __name__ == "__main__":
    main()
