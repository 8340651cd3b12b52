"""Routing on real preference data (Hybrid Preferences' claim, measured): does a routed mix of human
and judge labels train a better proxy reward model than all-human or all-judge labels?

    python bench/routing_real.py                                   # ../shared/data/hh_rlhf_harmless_dev.jsonl
    python bench/routing_real.py --data multipref.jsonl --seeds 5  # any file with both kinds of labels

The loop, per split seed (curation.strategies.measure_strategies, the code behind the routing page):
the items with a human label are split into router-fit (40 %), pool (35 %) and held-out (25 %);
the PPM (linear, quadratic, simulated selection) and the judge-error model learn on router-fit;
each strategy sends k % of the pool to people (their label) and the rest to the judge (its label);
a Bradley–Terry proxy reward model trained on that mix is scored on held-out human labels.

Files: hh-rlhf transcripts (`chosen`/`rejected`), allenai/multipref as released (`text`,
`completion_a`/`completion_b`, every normal and expert worker's `overall_pref`, averaged), and the
shapes bench/routing.py reads (prompt, response_a/response_b or response_1/response_2, a human label
such as HelpSteer2's `preference_strength`). Judges: rows with judge labels (`judges`, `lm`,
`gpt4_pref`) use them. Rows without (hh-rlhf, MultiPref as released) get the embedding reward-model judge — a Bradley–Terry head on MiniLM embeddings
of response + prompt, trained on a small random slice (`--judge-train`, default 150) that is then
removed from everything else, so the judge never saw the evaluation labels.

hh-rlhf rows are transcripts: the prompt is the shared conversation up to the last "Assistant:",
the responses are the two final turns, shown in a random (seeded) order. Its labels are single
crowd-worker choices (published agreement ~60–70 %): the held-out reference is itself noisy.

Embeddings (e(response + prompt) at 128 tokens for the reward models, e(response) for similarity)
are cached in var/routing_real_<name>.npz (first run: minutes on a 2-core CPU). The similarity
feature uses the encoder the app's features use on this machine (`--feature-embeddings auto`: the
static MiniLM on a CPU); the reward models always read the contextual MiniLM.
"""

import argparse
import hashlib
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
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_dev.jsonl"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/hh_rlhf_harmless_dev.jsonl")
MARK = "\n\nAssistant:"


def split_transcripts(chosen, rejected):
    """(prompt, chosen reply, rejected reply) from two hh-rlhf transcripts sharing their history."""
    cut = chosen.rfind(MARK)
    prefix = chosen[: cut + len(MARK)] if cut >= 0 else ""
    if not rejected.startswith(prefix):
        common = os.path.commonprefix([chosen, rejected])
        cut = common.rfind(MARK)
        prefix = common[: cut + len(MARK)] if cut >= 0 else common
    return prefix.strip(), chosen[len(prefix) :].strip(), rejected[len(prefix) :].strip()


def read_rows(path, seed=0):
    """Rows as dicts: prompt, a, b, human (±1 from A's side), judge (±1/0 or None when the file has none)."""
    sys.path.insert(0, str(ROOT))
    from bench.routing import normalise

    rng = np.random.default_rng(seed)
    out = []
    with open(path) as f:
        raw = [json.loads(line) for line in f if line.strip()]
    for i, row in enumerate(raw):
        if "chosen" in row and "rejected" in row and "prompt" not in row:
            prompt, good, bad = split_transcripts(row["chosen"], row["rejected"])
            if not good or not bad or good == bad:
                continue
            flip = rng.random() < 0.5  # the human's choice must not always sit on the same side
            out.append(
                {
                    "prompt": prompt,
                    "a": bad if flip else good,
                    "b": good if flip else bad,
                    "human": 1 if flip else -1,
                    "judge": None,
                }
            )
            continue
        r = normalise(row, i)
        if r["human"] is None or np.sign(r["human"]) == 0:
            continue
        prefs = [p for p in r["judges"].values() if p is not None]
        judge = int(np.sign(np.mean(prefs))) if prefs else (0 if r["judges"] else None)
        out.append({"prompt": r["prompt"], "a": r["a"], "b": r["b"], "human": int(np.sign(r["human"])), "judge": judge})
    return out


def embeddings_for(rows, cache):
    """e(response + prompt) (reward models, `response_text`) and e(response) (similarity), at 128
    tokens, cached by the texts' hash."""
    from workers.ml import embeddings
    from workers.ml.reward_heads import EMBED_MAX_TOKENS, response_text

    key = hashlib.sha256(
        (
            f"{EMBED_MAX_TOKENS}:{response_text('P', 'R')}\x00"
            + "\x00".join(r["prompt"] + "\x01" + r["a"] + "\x01" + r["b"] for r in rows)
        ).encode()
    ).hexdigest()[:16]
    if cache.exists():
        data = np.load(cache)
        if str(data["key"]) == key:
            return data["pa"], data["pb"], data["ra"], data["rb"], True
    texts = [response_text(r["prompt"], r["a"]) for r in rows] + [response_text(r["prompt"], r["b"]) for r in rows]
    chunks = []
    for start in range(0, len(texts), 500):
        chunks.append(embeddings.embed(texts[start : start + 500], max_tokens=EMBED_MAX_TOKENS))
        print(f"  embedded {start + len(chunks[-1])} / {len(texts)} texts", file=sys.stderr, flush=True)
    full = np.vstack(chunks)
    short = embeddings.embed([r["a"] for r in rows] + [r["b"] for r in rows], max_tokens=128)
    n = len(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=key, pa=full[:n], pb=full[n:], ra=short[:n], rb=short[n:])
    return full[:n], full[n:], short[:n], short[n:], False


def build(rows, pa, pb, ra, rb, judge_train, seed=0):
    """(RoutingData over the evaluation rows, description of the judge). Rows without judge labels
    get the embedding reward-model judge trained on `judge_train` random rows, which are dropped."""
    from curation import features, ppm, routing_sim, strategies
    from curation.mix_eval import LabelledPairs
    from workers.ml.reward_heads import fit_bradley_terry, principal_directions, verdict_from_margin

    n = len(rows)
    delta_full = (pb - pa).astype(float)
    human = np.array([r["human"] for r in rows], int)
    has_judge = all(r["judge"] is not None for r in rows)
    keep = np.arange(n)
    if has_judge:
        judge = np.array([r["judge"] for r in rows], int)
        confidence = np.full(n, np.nan)
        judge_note = "the file's judge labels"
    else:
        perm = np.random.default_rng(10_000 + seed).permutation(n)
        train, keep = perm[:judge_train], np.sort(perm[judge_train:])
        head = fit_bradley_terry(delta_full[train], human[train])
        margin = head.margin(delta_full)
        judge = np.sign(margin).astype(int)
        confidence = np.array([verdict_from_margin(m).confidence for m in margin])
        judge_note = f"embedding reward-model judge (Bradley–Terry on MiniLM) trained on {judge_train} rows held out of the evaluation"
    values, tags = [], []
    for i in keep:
        r = rows[i]
        v = features.text_features(r["prompt"], r["a"], r["b"])
        v.update(
            sim_ab=float(ra[i] @ rb[i]),
            judge_count=1,
            judge_unparsed=0.0 if judge[i] else 1.0,
            judge_confidence=None if np.isnan(confidence[i]) else float(confidence[i]),
        )
        values.append(v)
        tags.append(features.heuristic_tags(r["prompt"]))
    X, names = routing_sim.design(values, tags)
    numeric = {k: np.array([v.get(k) for v in values], dtype=float) for k in routing_sim.NUMERIC}
    categorical = {d: np.array([t.get(d, "") for t in tags], dtype=object) for d in features.TAG_DIMENSIONS}
    B, count_names = ppm.count_features(numeric, categorical, len(keep))
    pairs = LabelledPairs(keep.astype(np.int64), principal_directions(delta_full[keep]), human[keep], judge[keep])
    data = strategies.RoutingData(pairs, human[keep].copy(), X, names, B, count_names, np.zeros(len(keep), bool))
    return data, judge_note


def claim_lines(summary, strategy="ppm", budget=0.3):
    """The paper's claim, for its method at its budget: the PPM's mix at 30 % human labels matches or
    beats all-human and beats all-judge. A difference counts only beyond 2 × its noise (the per-seed
    sds combined, over √seeds); otherwise it is reported as indistinguishable."""
    j = min(range(len(summary.budgets)), key=lambda i: abs(summary.budgets[i] - budget))
    m, sd = summary.mean[strategy][j], summary.sd[strategy][j]
    lines = [f"The paper's claim, {strategy} at {int(budget * 100)} % human labels: {m:.3f} ± {sd:.3f}"]
    verdicts = []
    for name, (ref, ref_sd), want in (
        ("all-human", summary.all_human, "matches or beats"),
        ("all-judge", summary.all_judge, "beats"),
    ):
        diff = m - ref
        noise = float(np.hypot(sd, ref_sd) / np.sqrt(max(1, summary.seeds)))
        if diff > 2 * noise:
            verdict = "above"
        elif diff < -2 * noise:
            verdict = "below"
        else:
            verdict = "indistinguishable from"
        ok = verdict == "above" or (want == "matches or beats" and verdict != "below")
        verdicts.append(ok)
        lines.append(f"  vs {name} {ref:.3f} ± {ref_sd:.3f}: {diff:+.3f} (noise ± {noise:.3f}) → {verdict} {name}")
    lines.append(f"  → the claim {'holds' if all(verdicts) else 'does not hold'} on this data.")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", default=str(DEFAULT_DATA), help="JSONL: hh-rlhf chosen/rejected, or rows with human and judge labels"
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--judge-train",
        type=int,
        default=150,
        help="rows the embedding judge learns from (removed from the evaluation)",
    )
    ap.add_argument(
        "--mixes", type=int, default=0, help="PPM candidate mixes per fit (0: max(60, 2F + 20), F count features)"
    )
    ap.add_argument(
        "--feature-embeddings",
        default="auto",
        help="the similarity feature's encoder: auto (what the app picks here: static on a CPU), static or contextual",
    )
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "routing_real.txt"))
    args = ap.parse_args()
    import django

    django.setup()
    from bench.routing import format_table, gain_over_random

    started = time.perf_counter()
    rows = read_rows(args.data)
    rows = rows[: args.limit] if args.limit else rows
    cache = ROOT / "var" / f"routing_real_{Path(args.data).stem}{'_' + str(args.limit) if args.limit else ''}.npz"
    t0 = time.perf_counter()
    pa, pb, ra, rb, cached = embeddings_for(rows, cache)
    from curation.features import feature_encoder
    from workers.ml.static_embeddings import StaticMiniLM

    encoder = feature_encoder(args.feature_embeddings)
    if isinstance(encoder, StaticMiniLM):  # the similarity feature as the app computes it on this machine
        static = encoder.encode([r["a"] for r in rows] + [r["b"] for r in rows])
        ra, rb = static[: len(rows)], static[len(rows) :]
    embed_s = time.perf_counter() - t0
    data, judge_note = build(rows, pa, pb, ra, rb, args.judge_train)
    judge_acc = float(np.mean(data.pairs.judge[data.pairs.judge != 0] == data.pairs.human[data.pairs.judge != 0]))
    t0 = time.perf_counter()
    from curation import strategies

    summary = strategies.measure_strategies(data, seeds=args.seeds, n_mixes=args.mixes or None)
    measure_s = time.perf_counter() - t0
    wall = time.perf_counter() - started
    out = [
        f"Routing on {Path(args.data).name}: {len(data)} evaluation pairs; judge: {judge_note}; "
        f"judge agrees with the human label on {judge_acc:.3f} of them.",
        f"{args.seeds} split seeds: per seed {summary.pool_size:.0f} pool items routed, {summary.heldout_size:.0f} held out "
        f"(reference: {summary.reference}); proxy reward model: Bradley–Terry head on 32 principal directions of MiniLM e(B) − e(A); "
        f"similarity feature from {encoder.name}.",
        "Held-out accuracy of the proxy reward model trained on each mix, mean ± sd over seeds:",
        format_table(summary),
    ]
    out += claim_lines(summary)
    for strategy in ("ppm", "ppm_quadratic", "ppm_simulated", "judge_error", "uncertainty", "disagreement"):
        if strategy in summary.mean:
            gain, noise = gain_over_random(summary, strategy)
            out.append(f"  {strategy:>14} − random, mean over budgets 10–50 %: {gain:+.3f} (noise ± {noise:.3f})")
    out.append(
        f"Wall time {wall:.0f} s (embeddings {embed_s:.0f} s{' from cache ' + str(cache.relative_to(ROOT)) if cached else ''}, "
        f"measurement {measure_s:.0f} s) on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}."
    )
    text = "\n".join(out)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
