"""Noise-robust training on real human preference pairs (hh-rlhf harmless, dev slice).

    SECRET_KEY=x python bench/robust_training.py [--seeds 20] [--accuracy-seeds 5] [--rates 0,0.2,0.4] [--smoke]

1. Pairs are split by prompt (70 % train / 30 % test). The train labels go through a simulated
   crowd: 8 annotators of different accuracy (0.97 … 0.6), each item labelled by 3 of them, items
   of different difficulty (a flip is likelier on an item whose clean proxy-RM margin is small), so
   annotators' errors on an item are correlated. Per-label flip probabilities are scaled so the
   majority label is wrong on ≈ 0 / 20 / 40 % of the train items; the realised rate over the train
   items is the truth every ε interval is checked against.
2. A random gold slice: 10 % of the train items, drawn uniformly, with their true (hh-rlhf) label
   known, as a curator's gold items would be. Tandem's noise estimate (curation.noise.estimate,
   3 labels per item, gold as known truths, the k-NN vote on embedding differences as a separate
   signal) gives p_wrong per item and ε̂ by two estimators: the Dawid–Skene posterior mean with its
   bootstrap interval, and prediction-powered inference on the gold slice (PPI, Angelopoulos et al.
   2023). GLAD's posterior mean (aggregator="glad") is reported too. Noise AUROCs are over the
   non-gold train items (gold items' p_wrong is their known answer).
3. A proxy reward model, a Bradley–Terry head (logistic regression without bias on
   e(B) − e(A), `workers.ml.reward_heads.pair_deltas`: MiniLM at 128 tokens of response + the end
   of the prompt, the representation of the app's reward heads and of bench/routing_real.py's
   proxy), is trained on the crowd's majority labels with: plain BT loss; rDPO's unbiased loss at
   ε̂ (Chowdhury et al. 2024); cDPO's label smoothing at ε̂; per-row weights 1 − p_wrong; rows with
   p_wrong > 0.5 dropped; and the clean labels (oracle). ε̂ is the PPI estimate (clipped to
   [0, 0.49]; the posterior mean where PPI is unavailable). L2 is chosen per seed by 5-fold
   cross-validation inside the train split only (plain loss, held-out fold accuracy, grid
   L2_GRID; folds of rows: the train split holds one pair per prompt, bar one prompt): on the crowd's labels for every noisy-label method, on the clean labels for the oracle
   and for the margins that set item difficulty; the test split is never used to choose it.
   Accuracy is measured on the test split's untouched human labels, for the first
   `--accuracy-seeds` seeds; the noise figures use all `--seeds`.
Baseline: the plain loss on the same noisy labels in the same run (deltas are against it).

The "truth" is hh-rlhf's own label, which itself disagrees with other humans on a share of pairs;
accuracies are therefore well below 1 even for the oracle.

Embeddings go through `workers.ml.embeddings.embed` and its content-hash cache, in the database
that DATABASE_URL names (a migrated one) or, without it, in the bench's own SQLite database under
test-output/robust_training-var/ (migrated by the bench; the developer's var/ is never touched).
The first run encodes 3,282 texts (about 3 min on the shared 2-core machine); later runs read them.

`--smoke` also runs the three losses through Tandem's fine-tune service on the tiny local causal LM,
as the app does, in a child process with a throwaway embedded database (a temporary
TANDEM_VAR_DIR, migrated first; the developer's var/ and any PostgreSQL database are never touched,
tasks run in-process): 32 train pairs are imported with 3 simulated human labels each (the crowd
above; majority wrong with probability 0.2), a noise run scores them, a snapshot is frozen
(p_noise per row, ε̂), and three FineTuneRuns train 2 steps each: rdpo (ε of the kept rows), dpo
with per-row weights (noise_weighting=weight) and dpo with noisy rows dropped (noise_weighting=drop).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Set up before Django reads its settings. The smoke child writes projects, runs and artifacts into a
# throwaway embedded database, never the developer's var/ or a PostgreSQL database from the
# environment; the main process keeps the embedding cache in DATABASE_URL's database or the bench's own.
SMOKE_VAR = tempfile.mkdtemp(prefix="tandem-smoke-") if "--smoke-child" in sys.argv[1:] else None
BENCH_VAR = ROOT / "test-output" / "robust_training-var"
if SMOKE_VAR:
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_CACHE_URL"):
        os.environ.pop(key, None)
    os.environ.update(
        TANDEM_VAR_DIR=SMOKE_VAR, TANDEM_ARTIFACTS_DIR=str(Path(SMOKE_VAR) / "artifacts"), TANDEM_EAGER_TASKS="1"
    )
elif not os.environ.get("DATABASE_URL"):
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_CACHE_URL"):
        os.environ.pop(key, None)
    os.environ.update(TANDEM_VAR_DIR=str(BENCH_VAR), TANDEM_ARTIFACTS_DIR=str(BENCH_VAR / "artifacts"))

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from annotate.imports import import_items  # noqa: E402
from annotate.projects import create_project  # noqa: E402
from curation import noise  # noqa: E402
from curation.snapshots import freeze_snapshot  # noqa: E402
from workers import finetune  # noqa: E402
from workers.ml import embeddings  # noqa: E402
from workers.ml.reward_heads import pair_deltas  # noqa: E402
from workers.ml.tiny_models import build_tiny_causal_lm  # noqa: E402
from workers.models import FineTuneRun, ModelSpec, NoiseWeighting  # noqa: E402
from workers.tasks.finetune import finetune as finetune_task  # noqa: E402
from workers.tasks.noise import start_noise_run  # noqa: E402
from workers.tasks.runs import enqueue  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_dev.jsonl"
if not DATA.exists():  # a worktree elsewhere than beside shared/
    DATA = Path("/work/shared/data/hh_rlhf_harmless_dev.jsonl")
ACCURACIES = np.array([0.97, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6])
LABELS_PER_ITEM = 3
GOLD_SHARE = 0.1
L2_GRID = (1e-1, 1e-2, 1e-3, 1e-4)
CV_FOLDS = 5


def load_pairs(path=DATA):
    """(prompt, chosen, rejected) per row whose two conversations share the prompt."""
    out = []
    for line in open(path, encoding="utf-8"):  # noqa: SIM115
        row = json.loads(line)
        cut = row["chosen"].rfind("\n\nAssistant:") + len("\n\nAssistant:")
        prompt = row["chosen"][:cut]
        if row["rejected"][:cut] != prompt:
            continue
        out.append((prompt, row["chosen"][cut:].strip(), row["rejected"][cut:].strip()))
    return out


def embed_pairs(pairs):
    """e(chosen) − e(rejected) per pair, as the app's reward heads read a response (`pair_deltas`:
    response first, then the prompt's tail, 128 tokens), through the embedding cache."""
    return pair_deltas(embeddings.embed, [p for p, _, _ in pairs], [r for _, _, r in pairs], [c for _, c, _ in pairs])


def bt_fit(x, y, eps=0.0, weights=None, loss="plain", l2=1e-3):
    """Bradley–Terry head w minimising mean_i weight_i · ℓ(y_i · w·x_i) + l2/2 ‖w‖² (L-BFGS).

    plain: −log σ(m); rdpo: [(1−ε)(−log σ(m)) − ε(−log σ(−m))] / (1−2ε); cdpo: (1−ε)(−log σ(m)) + ε(−log σ(−m))."""
    weights = np.ones(len(y)) if weights is None else weights

    def f(w):
        m = y * (x @ w)
        pos, neg = np.logaddexp(0, -m), np.logaddexp(0, m)  # −log σ(m), −log σ(−m)
        dpos, dneg = -1 / (1 + np.exp(m)), 1 / (1 + np.exp(-m))  # their derivatives in m
        if loss == "plain":
            row, drow = pos, dpos
        elif loss == "rdpo":
            row, drow = ((1 - eps) * pos - eps * neg) / (1 - 2 * eps), ((1 - eps) * dpos - eps * dneg) / (1 - 2 * eps)
        else:
            row, drow = (1 - eps) * pos + eps * neg, (1 - eps) * dpos + eps * dneg
        value = (weights * row).mean() + l2 / 2 * w @ w
        grad = x.T @ (weights * drow * y) / len(y) + l2 * w
        return value, grad

    return minimize(f, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x


def choose_l2(x, y, rng, grid=L2_GRID, folds=CV_FOLDS):
    """The L2 of `grid` with the best mean held-out-fold accuracy of the plain loss (k-fold CV on
    the rows given: the train split only)."""
    fold = rng.permutation(len(y)) % folds
    scores = [
        np.mean([accuracy(bt_fit(x[fold != k], y[fold != k], l2=l2), x[fold == k], y[fold == k]) for k in range(folds)])
        for l2 in grid
    ]
    return grid[int(np.argmax(scores))]


def accuracy(w, x, y):
    return float(np.mean(np.sign(x @ w) == y))


def split_by_prompt(pairs, rng, test_share=0.3):
    prompts = sorted({p for p, _, _ in pairs})
    rng.shuffle(prompts)
    test = set(prompts[: int(len(prompts) * test_share)])
    return np.array([p in test for p, _, _ in pairs])


def simulate_crowd(difficulty, rate, rng):
    """Labels from 3 of 8 annotators per item; P(flip) = scale · (1 − accuracy_a) · difficulty_i
    (capped at 0.95), with the scale found by bisection so the majority label is wrong on `rate` of
    the items in expectation. Returns [(item, annotator, agrees with truth ±1)], majority (±1)."""
    n = len(difficulty)
    who = np.array([rng.choice(len(ACCURACIES), LABELS_PER_ITEM, replace=False) for _ in range(n)])
    base = (1 - ACCURACIES)[who] * difficulty[:, None]

    def majority_wrong(scale):
        p = np.minimum(base * scale, 0.95)
        a, b, c = p.T
        return float(np.mean(a * b + a * c + b * c - 2 * a * b * c))

    if rate <= 0:
        scale = 0.0
    else:
        low, high = 0.0, 50.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if majority_wrong(mid) < rate else (low, mid)
        scale = (low + high) / 2
    flips = rng.random(base.shape) < np.minimum(base * scale, 0.95)
    agree = np.where(flips, -1, 1)
    table = [(i, int(who[i, j]), int(agree[i, j])) for i in range(n) for j in range(LABELS_PER_ITEM)]
    return table, np.where(agree.sum(axis=1) > 0, 1, -1)


def covers(low, high, truth):
    return low <= truth <= high


def one_seed(seed, rate, delta, pairs, fit_accuracy=True):
    """One split, crowd and gold slice: the noise figures, and (fit_accuracy) the test accuracy of each loss."""
    rng = np.random.default_rng(seed)
    test = split_by_prompt(pairs, rng)
    orient = rng.choice([-1, 1], len(pairs))  # A is the chosen response when +1
    x = delta * orient[:, None]  # e(A) − e(B)
    y = orient.astype(float)  # +1: A preferred (the human label)
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    l2_clean = choose_l2(xtr, ytr, rng)
    clean = bt_fit(xtr, ytr, l2=l2_clean)
    margin = np.abs(xtr @ clean)
    difficulty = 2 * np.exp(-margin / np.median(margin))  # small clean margin → hard; mean ≈ 1
    difficulty /= difficulty.mean()
    table, majority = simulate_crowd(difficulty, rate, rng)
    noisy = ytr * majority  # the label the crowd gives
    wrong = majority < 0
    n = len(noisy)
    gold_items = rng.choice(n, max(1, round(GOLD_SHARE * n)), replace=False)
    gold = {int(i): int(ytr[i]) for i in gold_items}  # a random slice whose true label is known
    # Tandem's estimate over the crowd's labels, as the noise run sees them (labels relative to A)
    labels = [(i, f"sim-{a}", int(ytr[i] * agree)) for i, a, agree in table]
    aggregated = {i: int(noisy[i]) for i in range(n)}
    est = noise.estimate(labels, aggregated, features={i: xtr[i] * 1.0 for i in range(n)}, gold=gold, seed=seed)
    glad = noise.estimate(labels, aggregated, gold=gold, seed=seed, aggregator="glad")
    assert est.flip is not None and glad.flip is not None
    p = np.array([est.p_wrong.get(i, 0.0) for i in range(n)])
    truth = float(wrong.mean())
    scored = np.array([i not in gold for i in range(n)])  # AUROC over the non-gold items
    detectable = 0 < wrong[scored].sum() < scored.sum()

    def auroc_of(scores):
        return noise.auroc(np.asarray(scores)[scored], wrong[scored]) if detectable else None

    ds_mean, ds_low, ds_high = est.flip.posterior_mean
    glad_mean, glad_low, glad_high = glad.flip.posterior_mean
    ppi = est.flip.ppi
    out = {
        "truth": truth,
        "ds": ds_mean,
        "ds_covered": covers(ds_low, ds_high, truth),
        "ppi": ppi.epsilon if ppi else None,
        "ppi_covered": covers(ppi.low, ppi.high, truth) if ppi else None,
        "ppi_width": ppi.high - ppi.low if ppi else None,
        "glad": glad_mean,
        "glad_covered": covers(glad_low, glad_high, truth),
        "auroc": auroc_of(p),
        "auroc_glad": auroc_of([glad.p_wrong.get(i, 0.0) for i in range(n)]),
        "auroc_knn": auroc_of([est.signals[i].get("knn_disagreement", 0.5) for i in range(n)]),
        "method": est.epsilon_method,
    }
    if fit_accuracy:
        eps = min(max(est.epsilon, 0.0), 0.49)  # PPI's ε̂ when the gold slice allows it (it does here)
        l2 = choose_l2(xtr, noisy, rng)
        keep = p <= 0.5
        out["l2"] = (l2_clean, l2)
        out["acc"] = {
            "oracle (clean labels)": accuracy(clean, xte, yte),
            "plain": accuracy(bt_fit(xtr, noisy, l2=l2), xte, yte),
            "rDPO at ε̂": accuracy(bt_fit(xtr, noisy, eps, loss="rdpo", l2=l2), xte, yte),
            "cDPO at ε̂": accuracy(bt_fit(xtr, noisy, eps, loss="cdpo", l2=l2), xte, yte),
            "weights 1 − p": accuracy(bt_fit(xtr, noisy, weights=1 - p, l2=l2), xte, yte),
            "drop p > 0.5": accuracy(bt_fit(xtr[keep], noisy[keep], l2=l2), xte, yte),
        }
    return out


SMOKE_RUNS = (  # (name, method, noise_weighting)
    ("rDPO (rdpo, ε from the snapshot)", "rdpo", NoiseWeighting.NONE),
    ("DPO, per-row weights 1 − p_noise", "dpo", NoiseWeighting.WEIGHT),
    ("DPO, rows with p_noise > 0.5 dropped", "dpo", NoiseWeighting.DROP),
)
SMOKE_CONFIG = {"per_device_train_batch_size": 8, "max_steps": 2, "max_length": 128, "learning_rate": 1e-3}


def smoke(pairs, rate=0.2, n=32, seed=0):
    """The three losses through Tandem's fine-tune service on the tiny local LM, in the throwaway
    embedded database set up at import (SMOKE_VAR): import → noise run → snapshot → FineTuneRuns,
    each queued as the app queues it (tasks run in-process). Returns the printed lines."""
    assert SMOKE_VAR is not None  # only the smoke child runs this
    try:
        call_command("migrate", verbosity=0, interactive=False)
        rng = np.random.default_rng(seed)
        usable = [(p, c, r) for p, c, r in pairs if c and r and c != r]  # an import refuses an empty response
        picked = [usable[i] for i in rng.choice(len(usable), n, replace=False)]
        table, majority = simulate_crowd(np.ones(n), rate, rng)
        user = get_user_model().objects.create_superuser("bench", password=None)
        project = create_project(user, {"name": "robust-training smoke", "principles": ["Be harmless"]})
        files = Path(SMOKE_VAR) / "imports"
        files.mkdir()
        by_annotator: dict[int, list[dict[str, str]]] = {}
        for i, a, agree in table:  # one file per simulated annotator: its labels on its items
            prompt, chosen, rejected = picked[i]
            row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
            if agree < 0:
                row["chosen"], row["rejected"] = rejected, chosen
            by_annotator.setdefault(a, []).append(row)
        for a, own in sorted(by_annotator.items()):
            path = files / f"sim-{a}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in own))
            import_items(project, path, source=f"sim-{a}", label_kind="human", user=user)
        noise_run = start_noise_run(project, user=user)  # queued on commit: eager, so it runs here
        noise_run.refresh_from_db()
        snap = freeze_snapshot(project, user=user, test_fraction=0.2)
        model_dir = build_tiny_causal_lm(
            Path(SMOKE_VAR) / "tiny-lm", seed=seed, extra_texts=[t for p in picked for t in p]
        )
        spec = ModelSpec.objects.create(
            name="tiny-local", path_or_id=model_dir, dtype="float32", max_length=256, project=project
        )
        lines = [
            f"- noise run {noise_run.state}: {noise_run.metrics.get('items')} items, majority wrong on "
            f"{float(np.mean(majority < 0)):.3f}; snapshot {snap.name}: {snap.counts['by_split']} rows, "
            f"ε̂ = {snap.epsilon if snap.epsilon is None else f'{snap.epsilon:.4f}'}"
        ]
        for name, method, weighting in SMOKE_RUNS:
            ft = finetune.create_finetune(
                snap, spec, method, config=SMOKE_CONFIG, noise_weighting=weighting, seed=seed, user=user
            )
            enqueue(finetune_task, ft.run)
            ft = FineTuneRun.objects.select_related("run").get(pk=ft.pk)
            metrics, rows = ft.run.metrics or {}, (ft.run.metrics or {}).get("rows") or {}
            choice = rows.get("rdpo_epsilon")  # rdpo only: the ε applied and whose rows it is of (rdpo_epsilon.py)
            eps = f"{choice['applied']:.4f} ({choice['source']})" if choice else "— (not rdpo)"
            loss = metrics.get("train_loss")
            lines.append(
                f"- {name}: run {ft.run.state}, {rows.get('kept')} rows trained, {rows.get('dropped')} dropped, "
                f"ε {eps}, train loss {'—' if loss is None else f'{loss:.4f}'}"
                + (f" ({ft.run.error})" if ft.run.error else "")
            )
        return lines
    finally:
        shutil.rmtree(SMOKE_VAR, ignore_errors=True)


def mean_sd(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "n/a"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def count(results, key):
    values = [r[key] for r in results if r[key] is not None]
    return f"{sum(values)}/{len(values)}" if values else "n/a"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20, help="seeds per rate for the noise figures")
    parser.add_argument("--accuracy-seeds", type=int, default=5, help="of those, seeds the losses are trained on")
    parser.add_argument("--rates", default="0,0.2,0.4")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--smoke-child", metavar="OUT", help=argparse.SUPPRESS)  # the smoke's lines go to OUT
    args = parser.parse_args()
    pairs = load_pairs()
    if args.smoke_child:
        Path(args.smoke_child).write_text("\n".join(smoke(pairs)))
        return
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        call_command("migrate", verbosity=0, interactive=False)  # the bench's own SQLite database
    t0 = time.perf_counter()
    delta = embed_pairs(pairs)
    embed_s = time.perf_counter() - t0
    lines = [
        f"hh-rlhf harmless dev: {len(pairs)} pairs, {len({p for p, _, _ in pairs})} prompts; split by prompt 70/30; "
        f"{LABELS_PER_ITEM} simulated labels per train item; a random gold slice of {GOLD_SHARE:.0%} of the train "
        f"items; noise figures over {args.seeds} seeds per rate, accuracies over the first {args.accuracy_seeds}"
    ]
    acc_rows = ["| injected (majority wrong) | method | test accuracy, mean ± sd | Δ vs plain |", "|---|---|---|---|"]
    noise_rows = [
        "| injected | realised | ε̂ DS posterior mean | covers | ε̂ PPI | covers | PPI interval width "
        "| ε̂ GLAD posterior mean | covers | AUROC DS p_wrong | AUROC GLAD p_wrong | AUROC k-NN signal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    l2_seen = []
    for rate in [float(r) for r in args.rates.split(",")]:
        results = [
            one_seed(seed, rate, delta, pairs, fit_accuracy=seed < args.accuracy_seeds) for seed in range(args.seeds)
        ]
        fitted = [r for r in results if "acc" in r]
        l2_seen += [r["l2"] for r in fitted]
        plain = [r["acc"]["plain"] for r in fitted]
        for method in fitted[0]["acc"] if fitted else ():
            accs = [r["acc"][method] for r in fitted]
            delta_plain = statistics.mean(a - b for a, b in zip(accs, plain))
            acc_rows.append(f"| {rate:.0%} | {method} | {mean_sd(accs)} | {delta_plain:+.3f} |")
        noise_rows.append(
            f"| {rate:.0%} | {statistics.mean(r['truth'] for r in results):.3f} "
            f"| {mean_sd([r['ds'] for r in results])} | {count(results, 'ds_covered')} "
            f"| {mean_sd([r['ppi'] for r in results])} | {count(results, 'ppi_covered')} "
            f"| {mean_sd([r['ppi_width'] for r in results])} "
            f"| {mean_sd([r['glad'] for r in results])} | {count(results, 'glad_covered')} "
            f"| {mean_sd([r['auroc'] for r in results])} | {mean_sd([r['auroc_glad'] for r in results])} "
            f"| {mean_sd([r['auroc_knn'] for r in results])} |"
        )
    l2_note = ", ".join(
        f"{g:g}: {sum(c == g for c, _ in l2_seen)} clean / {sum(n == g for _, n in l2_seen)} crowd" for g in L2_GRID
    )
    out = [
        *lines,
        "",
        "Test accuracy of the proxy reward model (rDPO and cDPO at the PPI ε̂):",
        *acc_rows,
        "",
        "Flip rate ε (covers: the 95 % interval contains the realised rate; AUROCs over the non-gold items):",
        *noise_rows,
        "",
        f"L2 chosen by {CV_FOLDS}-fold CV on the train split (fits with accuracy): {l2_note}",
    ]
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            written = Path(tmp) / "smoke.txt"
            child = subprocess.run(
                [sys.executable, __file__, "--smoke-child", str(written)],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            smoke_lines = (
                written.read_text().splitlines() if child.returncode == 0 else [f"- failed: {child.stderr[-2000:]}"]
            )
        out += [
            "",
            "Smoke: Tandem's fine-tune service on the tiny local LM (throwaway embedded database), 32 real "
            "pairs, 3 simulated labels each (majority wrong with probability 0.2), 2 steps each:",
            *smoke_lines,
        ]
    out.append(
        f"\n{time.perf_counter() - started:.0f} s (embeddings {embed_s:.0f} s) on {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    text = "\n".join(out)
    print(text)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "robust_training.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
