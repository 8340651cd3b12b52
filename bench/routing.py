"""Routing benchmark (Miranda et al. 2024, "Hybrid Preferences"): does spending the human budget
where the router predicts the judges are wrong train a better reward model than spending it at
random? And how long does routing 100k items take?

For budgets 0, 10, ..., 100 % of the training pool, the routed mix (human labels on the chosen
items, jury labels elsewhere) trains a logistic reward model on response vectors (embedding
differences); accuracy is measured on a held-out split against human labels (and against the
truth when the set has it). The router learns from a separate calibration split that has both
labels. Curves are printed for the router, random, judge-uncertainty-first and disagreement-first.

    python bench/routing.py                      # bundled synthetic set, 3 seeds, 100k routing timing
    python bench/routing.py --data multipref.jsonl --route-items 0
    python bench/routing.py --n 2000 --seeds 1 --route-items 10000   # quick

--data JSONL rows: prompt, response_a/response_b (or response_1/response_2, chosen/rejected), a human
label (`human`, `human_pref`, `preference_strength` or `overall_pref`: −3..3 from A's side, a list of
them, or MultiPref phrases like "A-is-clearly-better") and LM labels (`judges`: {name: label}, or
`lm`/`gpt4_pref`). Optional: `vec_a`/`vec_b` (else MiniLM embeddings are computed), `judge_confidence`.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")

_PHRASES = {
    "a is clearly better": -2,
    "a is slightly better": -1,
    "tie": 0,
    "b is slightly better": 1,
    "b is clearly better": 2,
}


def _setup_django():
    import django

    django.setup()


def to_pref(value):
    """A label from A's side on −3..3 (mean of a list), or None."""
    from annotate.kinds.pairwise import preference_value

    if value is None:
        return None
    if isinstance(value, list):
        found = [p for p in (to_pref(v) for v in value) if p is not None]
        return float(np.mean(found)) if found else None
    if isinstance(value, str):
        s = value.strip().lower().replace("-", " ").replace("_", " ")
        if s in _PHRASES:
            return _PHRASES[s]
        value = preference_value(s)
    return (
        preference_value(value) if not isinstance(value, float) or value.is_integer() else float(np.clip(value, -3, 3))
    )


def _multipref(row):
    """allenai/multipref's own rows (`text`, `completion_a`/`completion_b`, the workers' `overall_pref`
    in `normal_worker_annotations` and `expert_worker_annotations`) in the shape read below: the
    prompt, both completions and every worker's overall preference as the human label (their mean)."""
    workers = [*(row.get("normal_worker_annotations") or []), *(row.get("expert_worker_annotations") or [])]
    prefs = [w.get("overall_pref") for w in workers if isinstance(w, dict) and w.get("overall_pref")]
    out = {
        "prompt": row.get("prompt", row.get("text")),
        "response_a": row["completion_a"],
        "response_b": row["completion_b"],
    }
    if prefs and "human" not in row:
        out["human"] = prefs
    return {**{k: v for k, v in row.items() if k not in ("completion_a", "completion_b")}, **out}


def normalise(row, i):
    if "completion_a" in row and "completion_b" in row:
        row = _multipref(row)
    a = row.get("response_a", row.get("response_1", row.get("chosen")))
    b = row.get("response_b", row.get("response_2", row.get("rejected")))
    if a is None or b is None or "prompt" not in row:
        raise ValueError(f"row {i}: needs prompt and two responses")
    if "chosen" in row and "response_a" not in row and "human" not in row:
        row = {**row, "human": -2}
    human = next(
        (to_pref(row[k]) for k in ("human", "human_pref", "preference_strength", "overall_pref") if k in row), None
    )
    judges = row.get("judges") or {k: row[k] for k in ("lm", "gpt4_pref", "judge") if k in row}
    judges = {name: to_pref(v) for name, v in judges.items()}
    return {
        "prompt": row["prompt"] if isinstance(row["prompt"], str) else json.dumps(row["prompt"]),
        "a": a,
        "b": b,
        "human": human,
        "judges": judges,
        "confidence": row.get("judge_confidence") or {},
        "truth": row.get("truth"),
        "vec_a": row.get("vec_a"),
        "vec_b": row.get("vec_b"),
    }


def prepare(raw_rows, embed=None):
    """`strategies.RoutingData` for the rows (plus the truth where the set has it): router features,
    count features, jury and human directions, and e(B) − e(A) for the proxy reward model."""
    from curation import features, ppm, routing_sim, strategies
    from curation.mix_eval import LabelledPairs

    rows = [normalise(r, i) for i, r in enumerate(raw_rows)]
    rows = [r for r in rows if r["human"] is not None and np.sign(r["human"]) != 0]
    if any(r["vec_a"] is None for r in rows):
        from workers.ml import embeddings
        from workers.ml.reward_heads import pair_deltas, principal_directions

        delta = principal_directions(
            pair_deltas(
                embed or embeddings.embed, [r["prompt"] for r in rows], [r["a"] for r in rows], [r["b"] for r in rows]
            )
        )
    else:
        delta = np.array([r["vec_b"] for r in rows], float) - np.array([r["vec_a"] for r in rows], float)
    values, tags = [], []
    for r in rows:
        v = features.text_features(r["prompt"], r["a"], r["b"])
        prefs = [p for p in r["judges"].values() if p is not None]
        votes = [int(np.sign(p)) for p in prefs]
        confs = [c for c in r["confidence"].values() if c is not None]
        v.update(
            judge_count=len(r["judges"]),
            judge_unparsed=1 - len(prefs) / max(1, len(r["judges"])),
            judge_confidence=float(np.mean(confs)) if confs else None,
            judge_pref_abs=abs(float(np.mean(prefs))) if prefs else None,
            jury_std=float(np.std(prefs)) if prefs else None,
            jury_disagreement=1 - max(votes.count(s) for s in set(votes)) / len(votes) if votes else None,
        )
        values.append(v)
        tags.append(features.heuristic_tags(r["prompt"]))
    X, names = routing_sim.design(values, tags)
    numeric = {k: np.array([v.get(k) for v in values], dtype=float) for k in routing_sim.NUMERIC}
    categorical = {d: np.array([t.get(d, "") for t in tags], dtype=object) for d in features.TAG_DIMENSIONS}
    B, count_names = ppm.count_features(numeric, categorical, len(rows))
    jury = np.array(
        [np.sign(np.mean([p for p in r["judges"].values() if p is not None] or [0])) for r in rows], dtype=int
    )
    human = np.sign([r["human"] for r in rows]).astype(int)
    truth = np.sign([r["truth"] for r in rows]).astype(int) if all(r["truth"] is not None for r in rows) else None
    ids = np.arange(len(rows), dtype=np.int64)
    data = strategies.RoutingData(
        LabelledPairs(ids, delta, human, jury), human.copy(), X, names, B, count_names, np.zeros(len(rows), bool)
    )
    return data, truth


def simulate(data, seeds=3, n_mixes=None, strategies_=None):
    """Measured curves (mix_eval.CurveSummary): routers fitted, mixes routed and proxy reward models
    scored on disjoint splits, per seed."""
    from curation import routing_sim, strategies

    return strategies.measure_strategies(
        data, strategies=strategies_ or routing_sim.STRATEGIES, seeds=seeds, n_mixes=n_mixes
    )


def gain_over_random(summary, strategy="ppm", low=0.1, high=0.5):
    """Mean over budgets low..high of (strategy − random) held-out accuracy, and the pooled sd of that
    difference's mean (per-budget sds over seeds, averaged, over √seeds)."""
    pick = [j for j, b in enumerate(summary.budgets) if low - 1e-9 <= b <= high + 1e-9]
    diff = float(np.mean([summary.mean[strategy][j] - summary.mean["random"][j] for j in pick]))
    noise = float(
        np.mean([np.hypot(summary.sd[strategy][j], summary.sd["random"][j]) for j in pick])
        / np.sqrt(max(1, summary.seeds))
    )
    return diff, noise


def format_table(summary, title=""):
    """Budget × strategy table of held-out accuracy, mean ± sd over seeds, with all-human / all-judge."""
    from curation.routing_sim import STRATEGIES

    strategies_ = [s for s in STRATEGIES if s in summary.mean]
    lines = [title] if title else []
    lines.append("| budget | " + " | ".join(strategies_) + " |")
    lines.append("|---" * (len(strategies_) + 1) + "|")
    for j, b in enumerate(summary.budgets):
        cells = [
            "—"
            if summary.mean[s][j] is None or not np.isfinite(summary.mean[s][j])
            else f"{summary.mean[s][j]:.3f} ± {summary.sd[s][j]:.3f}"
            for s in strategies_
        ]
        lines.append(f"| {int(round(b * 100))} % | " + " | ".join(cells) + " |")
    lines.append(
        f"| all-human | {summary.all_human[0]:.3f} ± {summary.all_human[1]:.3f} |" + " |" * (len(strategies_) - 1)
    )
    lines.append(
        f"| all-judge | {summary.all_judge[0]:.3f} ± {summary.all_judge[1]:.3f} |" + " |" * (len(strategies_) - 1)
    )
    return "\n".join(lines)


def time_routing(n_items, seed=0):
    """Route `n_items` items of a throwaway project in the configured database (rolled back)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from annotate.models import Annotation, Annotator, AnnotatorKind, Item, LMJudge, Project, Prompt, Response
    from curation.models import ItemFeatures
    from curation.routing import route_project

    rng = np.random.default_rng(seed)
    domains = ["code", "math", "general", "creative", "history"]

    class Rollback(Exception):
        pass

    result = {}
    try:
        with transaction.atomic():
            t0 = time.perf_counter()
            project = Project.objects.create(name=f"bench-routing-{time.time_ns()}")
            prompts = Prompt.objects.bulk_create(
                [Prompt(project=project, text=f"p{i}", content_hash=f"{i}") for i in range(n_items)], batch_size=5000
            )
            responses = Response.objects.bulk_create(
                [Response(prompt=p, text="r") for p in prompts for _ in (0, 1)], batch_size=10000
            )
            items = Item.objects.bulk_create(
                [
                    Item(
                        project=project,
                        prompt=p,
                        kind="pairwise",
                        response_a=responses[2 * i],
                        response_b=responses[2 * i + 1],
                    )
                    for i, p in enumerate(prompts)
                ],
                batch_size=5000,
            )
            judge = LMJudge.objects.create(name=f"bench-judge-{time.time_ns()}", backend="openai", model="m")
            jann = Annotator.objects.create(kind=AnnotatorKind.JUDGE, name=f"judge:{judge.name}", judge=judge)
            user = get_user_model().objects.create_user(username=f"bench-{time.time_ns()}")
            hann = Annotator.objects.create(kind=AnnotatorKind.HUMAN, name=user.username, user=user)
            hard = rng.random(n_items) < 0.3
            truth = rng.choice([-2, 2], n_items)
            ItemFeatures.objects.bulk_create(
                [
                    ItemFeatures(
                        item=it,
                        values={
                            "len_a": int(rng.integers(5, 400)),
                            "len_b": int(rng.integers(5, 400)),
                            "len_ratio": float(1 + rng.random() * 3),
                            "rouge_l": float(rng.random()),
                            "sim_ab": float(rng.random()),
                            "judge_confidence": float(rng.random()),
                            "jury_disagreement": float(rng.random() < 0.1),
                            "judge_count": 2,
                        },
                        tags={
                            "domain": domains[int(rng.integers(5))] if not hard[i] else "math",
                            "task_type": "open_qa",
                        },
                    )
                    for i, it in enumerate(items)
                ],
                batch_size=5000,
            )
            labels = [
                Annotation(
                    item=it,
                    annotator=jann,
                    kind="pairwise",
                    preference=int(-truth[i] if hard[i] else truth[i]),
                    confidence=0.9,
                )
                for i, it in enumerate(items)
            ]
            labelled = n_items // 10
            labels += [
                Annotation(item=it, annotator=hann, kind="pairwise", preference=int(truth[i]))
                for i, it in enumerate(items[:labelled])
            ]
            Annotation.objects.bulk_create(labels, batch_size=10000)
            Item.objects.filter(pk__in=[it.pk for it in items[:labelled]]).update(human_label_count=1)
            result["setup_s"] = time.perf_counter() - t0
            t1, c1 = time.perf_counter(), time.process_time()
            run = route_project(project, budget=0.3, calibration_fraction=0.01, calibration_minimum=0)
            result["route_s"], result["route_cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
            # Baseline in the same run: the bare UPDATE of the same rows' routing columns, the floor
            # any way of storing 100k routes must pay on this database (indexes included).
            from django.db import connection

            t2 = time.perf_counter()
            with connection.cursor() as cur:
                cur.execute(
                    f"UPDATE {Item._meta.db_table} SET routing = CASE WHEN routing = 'human' THEN 'judge' ELSE 'human' END, "
                    "route_score = route_score + 1 WHERE project_id = %s",
                    [project.pk],
                )
            result["bare_update_s"] = time.perf_counter() - t2
            result["timings"] = run.model["timings"]
            result["counts"] = run.counts
            raise Rollback
    except Rollback:
        pass
    return result


def time_features(n_items, seed=0):
    """Compute features (MiniLM embeddings, overlap, tags, judge signals) for `n_items` synthetic
    items in a throwaway project (rolled back); returns seconds."""
    from django.db import transaction
    from make_routing_synthetic import generate

    from annotate.models import Item, Project, Prompt, Response
    from curation.features import compute_features, feature_encoder

    class Rollback(Exception):
        pass

    feature_encoder().encode(["warm-up"])  # a worker loads the model once; not part of the per-run cost
    rows = generate(n_items, seed=seed)
    seconds = None
    try:
        with transaction.atomic():
            project = Project.objects.create(name=f"bench-features-{time.time_ns()}")
            prompts = Prompt.objects.bulk_create(
                [Prompt(project=project, text=r["prompt"], content_hash=str(i)) for i, r in enumerate(rows)]
            )
            responses = Response.objects.bulk_create(
                [Response(prompt=p, text=r[k]) for p, r in zip(prompts, rows) for k in ("response_a", "response_b")]
            )
            Item.objects.bulk_create(
                [
                    Item(
                        project=project,
                        prompt=p,
                        kind="pairwise",
                        response_a=responses[2 * i],
                        response_b=responses[2 * i + 1],
                    )
                    for i, p in enumerate(prompts)
                ]
            )
            t0 = time.perf_counter()
            compute_features(project)
            seconds = time.perf_counter() - t0
            raise Rollback
    except Rollback:
        pass
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="JSONL with human and LM labels per item (default: bundled synthetic set)")
    ap.add_argument("--n", type=int, default=4000, help="synthetic items when --data is not given")
    ap.add_argument(
        "--limit", type=int, default=0, help="read at most this many rows of --data (embedding is the slow part on CPU)"
    )
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--route-items", type=int, default=100_000, help="items to route for the timing (0: skip)")
    ap.add_argument(
        "--feature-items", type=int, default=1000, help="items to compute features for, for the timing (0: skip)"
    )
    ap.add_argument(
        "--independent", action="store_true", help="synthetic judges that err independently of every feature"
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "routing.txt"))
    args = ap.parse_args()
    _setup_django()
    sys.path.insert(0, str(ROOT / "bench" / "data"))
    from make_routing_synthetic import generate

    if args.data:
        with open(args.data) as f:
            raw = [json.loads(line) for line in f if line.strip()]
        raw = raw[: args.limit] if args.limit else raw
        source = args.data
    else:
        raw = generate(args.n, seed=0, independent=args.independent)
        source = f"synthetic (bench/data/make_routing_synthetic.py, n={args.n}, seed 0{', independent judge errors' if args.independent else ''})"
    out = []
    if args.seeds:
        t0 = time.perf_counter()
        data, truth = prepare(raw)
        prep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = simulate(data, seeds=args.seeds)
        sim_s = time.perf_counter() - t0
        out += [
            f"Routing simulation on {source}: {len(data)} items, {args.seeds} split seeds "
            f"(features {prep_s:.1f} s, simulation {sim_s:.1f} s); per seed {summary.pool_size:.0f} pool items routed, "
            f"{summary.heldout_size:.0f} held out (reference: human labels)",
            "Held-out accuracy of a proxy reward model trained on each mix (mean ± sd over seeds):",
            format_table(summary),
        ]
        for s_ in ("ppm", "judge_error"):
            gain, noise = gain_over_random(summary, s_)
            out.append(f"{s_} − random, mean over budgets 10–50 %: {gain:+.3f} (± {noise:.3f} noise)")
    if args.route_items:
        from django.db import connection

        timing = time_routing(args.route_items)
        out.append(
            f"\nRouting {args.route_items} items on {connection.vendor} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): "
            f"{timing['route_s']:.2f} s wall, {timing['route_cpu_s']:.2f} s CPU in this process; "
            f"a bare UPDATE of the same rows' routing took {timing['bare_update_s']:.2f} s "
            f"(routing = {timing['route_s'] / timing['bare_update_s']:.1f}× that baseline)"
        )
        out.append(
            f"  route_project {timing['route_s']:.2f} s "
            f"(load {timing['timings']['load_s']:.2f} incl. judge signals {timing['timings'].get('judge_signals_s', 0):.2f}, fit {timing['timings']['fit_s']:.2f}, "
            f"score+explain {timing['timings']['score_s']:.2f}, measured curves {timing['timings']['curves_s']:.2f}, "
            f"write {timing['timings']['write_s']:.2f}); "
            f"{'meets' if timing['route_s'] < 10 else 'misses'} the 10 s target; setup {timing['setup_s']:.1f} s; counts {timing['counts']}"
        )
    if args.feature_items:
        out.append("")
        seconds = time_features(args.feature_items)
        from curation.features import feature_encoder

        out.append(
            f"Features for {args.feature_items} pairwise items (3 texts each, {feature_encoder().name}): "
            f"{seconds:.1f} s = {args.feature_items / seconds:.0f} items/s"
        )
    text = "\n".join(out)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
