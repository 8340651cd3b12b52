"""Noise-robust training on real human preference pairs (hh-rlhf harmless, dev slice).

    SECRET_KEY=x python bench/robust_training.py [--seeds 20] [--rates 0,0.2,0.4] [--smoke]

1. Pairs are split by prompt (70 % train / 30 % test). The train labels go through a simulated
   crowd: 8 annotators of different accuracy (0.97 … 0.6), each item labelled by 3 of them, items
   of different difficulty (a flip is likelier on an item whose clean proxy-RM margin is small).
   Per-label flip probabilities are scaled so the majority label is wrong on ≈ 0 / 20 / 40 % of the
   train items; the realised rate is the truth the ε interval is checked against.
2. Tandem's noise estimate (curation.noise.estimate: Dawid–Skene over the 3 labels per item, the
   k-NN vote on embedding differences as a separate signal) gives p_wrong per item and ε̂ with
   its bootstrap interval.
3. A proxy reward model, a Bradley–Terry head (logistic regression without bias on
   e(prompt ⊕ A) − e(prompt ⊕ B), MiniLM embeddings, L2), is trained on the majority labels with:
   plain BT loss; rDPO's unbiased loss at ε̂ (Chowdhury et al. 2024); cDPO's label smoothing at ε̂;
   per-row weights 1 − p_wrong; rows with p_wrong > 0.5 dropped; and the clean labels (oracle).
   Accuracy is measured on the test split's untouched human labels.
Baseline: the plain loss on the same noisy labels in the same run (deltas are against it).

The "truth" is hh-rlhf's own label, which itself disagrees with other humans on a share of pairs;
accuracies are therefore well below 1 even for the oracle.

`--smoke` also runs the three losses through Tandem's fine-tune service on the tiny local causal LM,
as the app does, in a throwaway embedded database (a temporary TANDEM_VAR_DIR, migrated first; the
developer's var/ and any PostgreSQL database are never touched, tasks run in-process): 32 train
pairs are imported with 3 simulated human labels each (the crowd above; majority wrong with probability 0.2), a
noise run scores them, a snapshot is frozen (p_noise per row, ε̂), and three FineTuneRuns train
2 steps each: rdpo (ε of the kept rows), dpo with per-row weights (noise_weighting=weight) and
dpo with noisy rows dropped (noise_weighting=drop).
Embeddings are cached under test-output/ (the first run encodes 3,288 texts).
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# --smoke writes projects, runs and artifacts: into a throwaway embedded database, set up before
# Django reads its settings, never the developer's var/ or a PostgreSQL database from the environment.
SMOKE_VAR = tempfile.mkdtemp(prefix="tandem-smoke-") if "--smoke" in sys.argv[1:] else None
if SMOKE_VAR:
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_CACHE_URL"):
        os.environ.pop(key, None)
    os.environ.update(
        TANDEM_VAR_DIR=SMOKE_VAR, TANDEM_ARTIFACTS_DIR=str(Path(SMOKE_VAR) / "artifacts"), TANDEM_EAGER_TASKS="1"
    )

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
from workers.ml.tiny_models import build_tiny_causal_lm  # noqa: E402
from workers.models import FineTuneRun, ModelSpec, NoiseWeighting  # noqa: E402
from workers.tasks.finetune import finetune as finetune_task  # noqa: E402
from workers.tasks.noise import start_noise_run  # noqa: E402
from workers.tasks.runs import enqueue  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_dev.jsonl"
CACHE = ROOT / "test-output" / "robust_training_embeddings.npz"
ACCURACIES = np.array([0.97, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6])
LABELS_PER_ITEM = 3
L2 = 1e-4  # the best held-out accuracy of 1e-2 … 1e-5 on clean labels (seed 0)


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
    """(e(prompt ⊕ chosen), e(prompt ⊕ rejected)), cached under test-output/ by the data's hash."""
    key = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
    if CACHE.exists():
        saved = np.load(CACHE)
        if str(saved["key"]) == key:
            return saved["chosen"], saved["rejected"]
    from workers.ml.embeddings import MiniLM

    vectors = MiniLM(256).encode([f"{p}\n\n{c}" for p, c, _ in pairs] + [f"{p}\n\n{r}" for p, _, r in pairs])
    chosen, rejected = vectors[: len(pairs)], vectors[len(pairs) :]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, key=key, chosen=chosen, rejected=rejected)
    return chosen, rejected


def bt_fit(x, y, eps=0.0, weights=None, loss="plain"):
    """Bradley–Terry head w minimising mean_i weight_i · ℓ(y_i · w·x_i) + L2/2 ‖w‖² (L-BFGS).

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
        value = (weights * row).mean() + L2 / 2 * w @ w
        grad = x.T @ (weights * drow * y) / len(y) + L2 * w
        return value, grad

    return minimize(f, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x


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


def one_seed(seed, rate, chosen, rejected, pairs):
    rng = np.random.default_rng(seed)
    test = split_by_prompt(pairs, rng)
    orient = rng.choice([-1, 1], len(pairs))  # A is the chosen response when +1
    x = (chosen - rejected) * orient[:, None]  # e(A) − e(B)
    y = orient.astype(float)  # +1: A preferred (the human label)
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    clean = bt_fit(xtr, ytr)
    margin = np.abs(xtr @ clean)
    difficulty = 2 * np.exp(-margin / np.median(margin))  # small clean margin → hard; mean ≈ 1
    difficulty /= difficulty.mean()
    table, majority = simulate_crowd(difficulty, rate, rng)
    noisy = ytr * majority  # the label the crowd gives
    wrong = majority < 0
    # Tandem's estimate over the crowd's labels, as the noise run sees them (labels relative to A)
    labels = [(i, f"sim-{a}", int(ytr[i] * agree)) for i, a, agree in table]
    est = noise.estimate(
        labels,
        {i: int(noisy[i]) for i in range(len(noisy))},
        features={i: xtr[i] * 1.0 for i in range(len(noisy))},
        seed=seed,
    )
    p = np.array([est.p_wrong.get(i, 0.0) for i in range(len(noisy))])
    eps = min(max(est.epsilon, 0.0), 0.49)
    fits = {
        "oracle (clean labels)": accuracy(clean, xte, yte),
        "plain": accuracy(bt_fit(xtr, noisy), xte, yte),
        "rDPO at ε̂": accuracy(bt_fit(xtr, noisy, eps, loss="rdpo"), xte, yte),
        "cDPO at ε̂": accuracy(bt_fit(xtr, noisy, eps, loss="cdpo"), xte, yte),
        "weights 1 − p": accuracy(bt_fit(xtr, noisy, weights=1 - p), xte, yte),
        "drop p > 0.5": accuracy(bt_fit(xtr[p <= 0.5], noisy[p <= 0.5]), xte, yte),
    }
    truth = float(wrong.mean())
    return {
        "acc": fits,
        "truth": truth,
        "eps": est.epsilon,
        "low": est.epsilon_low,
        "high": est.epsilon_high,
        "covered": est.epsilon_low <= truth <= est.epsilon_high,
        "auroc": noise.auroc(p, wrong) if 0 < wrong.sum() < len(wrong) else None,
        "auroc_knn": noise.auroc([est.signals[i].get("knn_disagreement", 0.5) for i in range(len(noisy))], wrong)
        if 0 < wrong.sum() < len(wrong)
        else None,
    }


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
        by_annotator = {}
        for i, a, agree in table:  # one file per simulated annotator: its labels on its items
            prompt, chosen, rejected = picked[i]
            row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
            if agree < 0:
                row["chosen"], row["rejected"] = rejected, chosen
            by_annotator.setdefault(a, []).append(row)
        for a, rows in sorted(by_annotator.items()):
            path = files / f"sim-{a}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rates", default="0,0.2,0.4")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    pairs = load_pairs()
    chosen, rejected = embed_pairs(pairs)
    lines = [
        f"hh-rlhf harmless dev: {len(pairs)} pairs, {len({p for p, _, _ in pairs})} prompts; "
        f"split by prompt 70/30; {args.seeds} seeds per rate; {LABELS_PER_ITEM} simulated labels per train item"
    ]
    header = "| injected (majority wrong) | method | test accuracy, mean ± sd | Δ vs plain |"
    table = [header, "|---|---|---|---|"]
    noise_rows = [
        "| injected | realised | ε̂ (mean) | interval covers realised | noise AUROC (p_wrong) | k-NN signal AUROC |",
        "|---|---|---|---|---|---|",
    ]
    for rate in [float(r) for r in args.rates.split(",")]:
        results = [one_seed(seed, rate, chosen, rejected, pairs) for seed in range(args.seeds)]
        plain = [r["acc"]["plain"] for r in results]
        for method in results[0]["acc"]:
            accs = [r["acc"][method] for r in results]
            delta = statistics.mean(a - b for a, b in zip(accs, plain))
            table.append(
                f"| {rate:.0%} | {method} | {statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f} | {delta:+.3f} |"
            )
        aurocs = [r["auroc"] for r in results if r["auroc"] is not None]
        knn = [r["auroc_knn"] for r in results if r["auroc_knn"] is not None]
        noise_rows.append(
            f"| {rate:.0%} | {statistics.mean(r['truth'] for r in results):.3f} | {statistics.mean(r['eps'] for r in results):.3f} "
            f"| {sum(r['covered'] for r in results)}/{len(results)} "
            f"| {f'{statistics.mean(aurocs):.3f} ± {statistics.stdev(aurocs):.3f}' if len(aurocs) > 1 else 'n/a'} "
            f"| {f'{statistics.mean(knn):.3f}' if knn else 'n/a'} |"
        )
    out = [*lines, "", *table, "", *noise_rows]
    if args.smoke:
        out += [
            "",
            "Smoke: Tandem's fine-tune service on the tiny local LM (throwaway embedded database), 32 real "
            "pairs, 3 simulated labels each (majority wrong with probability 0.2), 2 steps each:",
            *smoke(pairs),
        ]
    out.append(f"\n{time.perf_counter() - started:.0f} s")
    text = "\n".join(out)
    print(text)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "robust_training.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
