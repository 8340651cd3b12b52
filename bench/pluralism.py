"""Pluralism benchmark: planted preference groups recovered by the mixture of Bradley–Terry heads,
and the judge-bias audit's length coefficient on 805 real AlpacaEval GPT-4 verdicts.

    DATABASE_URL=... SECRET_KEY=x python bench/pluralism.py [--data ../shared/data/alpaca_eval_gpt4_judged.jsonl]

(any migrated database; without DATABASE_URL the SQLite one under TANDEM_VAR_DIR.)

1. Groups (curation.mixture, synthetic 16-d pair features standing in for the MiniLM differences):
   K = 3 planted groups of 10 annotators and K = 1 data, 10 seeds each; chosen K and the adjusted
   Rand index of the annotators' argmax groups against the truth. Then 10,000 labels from 100 annotators over
   3,000 items with 384-d features (PCA to 32 inside, as in curation.pluralism): the fit's time,
   against a single Bradley–Terry head (one logistic regression) on the same labels as baseline.
2. Length bias (curation.bias.audit through a throwaway project): AlpacaEval's GPT-4 verdicts on
   text_davinci_003 (A) vs alpaca-7b (B) as LM-judge labels; the length slope with its 95%
   bootstrap CI, against the same texts with the verdicts shuffled (a labeller blind to length
   by construction) as baseline. Ties (preference 0) are imported as ties and left out.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 10
sys.path.insert(0, str(ROOT))


def planted(groups, annotators=30, items=400, per=60, dims=16, seed=0, strength=3.0, signal_dims=None):
    rng = np.random.default_rng(seed)
    scale = np.ones(dims)
    if signal_dims:  # heads live in a few high-variance directions, like real embedding differences
        scale[:signal_dims], scale[signal_dims:] = 3.0, 0.5
    basis = np.linalg.qr(rng.normal(size=(dims, dims)))[0]
    x = (rng.normal(size=(items, dims)) * scale) @ basis.T
    k = signal_dims or dims
    heads = rng.normal(size=(groups, k))
    heads /= np.linalg.norm(heads, axis=1, keepdims=True)
    heads = np.column_stack([heads, np.zeros((groups, dims - k))]) @ basis.T
    truth = np.arange(annotators) % groups
    a, i, y = [], [], []
    for u in range(annotators):
        chosen = rng.choice(items, per, replace=False)
        p = 1 / (1 + np.exp(-strength * x[chosen] @ heads[truth[u]] / (3.0 if signal_dims else 1.0)))
        a += [u] * per
        i += list(chosen)
        y += list((rng.random(per) < p).astype(int))
    return x, (np.array(a), np.array(i), np.array(y)), truth


def groups_section(out):
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from curation.bias import fit_logistic
    from curation.mixture import Labels, Projection, choose_and_fit

    with threadpool_limits(1):
        for g in (3, 1):
            chosen, aris = [], []
            for seed in range(SEEDS):
                x, (a, i, y), truth = planted(g, seed=seed)
                fit = choose_and_fit(x, Labels(a, i, y), 30, k_max=4, seed=seed)
                chosen.append(fit.k)
                aris.append(adjusted_rand_score(truth, fit.weights.argmax(axis=1)))
                if seed == 0:
                    held = ", ".join(f"K={k}: {v:.3f}" for k, v in fit.heldout.items())
                    out.append(f"planted K={g} seed 0: held-out log-lik per label {held}")
            out.append(
                f"planted K={g}, {SEEDS} seeds (30 annotators x 60 labels, 400 items): chosen K = {chosen}; "
                f"K={g} chosen {chosen.count(g)}/{SEEDS}; ARI mean {np.mean(aris):.3f}, min {np.min(aris):.3f}"
            )
        x, (a, i, y), truth = planted(3, annotators=100, items=3000, per=100, dims=384, signal_dims=16, seed=0)
        started = time.perf_counter()
        fit_logistic(Projection.fit(x, 32, center=False)(x)[i], y.astype(float))
        base = time.perf_counter() - started
        started = time.perf_counter()
        projection = Projection.fit(x, 32, center=False)
        fit = choose_and_fit(projection(x), Labels(a, i, y), 100, k_max=4)
        seconds = time.perf_counter() - started
    ari = adjusted_rand_score(truth, fit.weights.argmax(axis=1))
    out.append(
        f"10,000 labels, 100 annotators, 3,000 items, 384-d: K={fit.k}, ARI={ari:.3f}, fit {seconds:.2f} s "
        f"(K=1..4 with held-out selection and refit) vs one BT head {base:.3f} s: ratio {seconds / max(base, 1e-9):.0f}x "
        f"(one thread; the MiniLM embedding of the texts is not included)"
    )


def length_section(out, data_path):
    from annotate.content import prompt_hash
    from annotate.models import Annotation, Annotator, AnnotatorKind, Item, LMJudge, Project, Prompt, Response
    from curation.bias import audit

    rows = [json.loads(line) for line in Path(data_path).read_text().splitlines() if line.strip()]

    def build(name, verdicts):
        project = Project.objects.create(name=name)
        judge = LMJudge.objects.create(name=name, backend="openai", model="gpt-4", family="openai")
        who = Annotator.objects.create(kind=AnnotatorKind.JUDGE, name=f"judge:{name}", judge=judge)
        prompts = Prompt.objects.bulk_create(
            [
                Prompt(project=project, text=r["instruction"], content_hash=prompt_hash(r["instruction"], None))
                for n, r in enumerate(rows)
            ]
        )
        responses = Response.objects.bulk_create(
            [
                Response(prompt=p, text=r[f"output_{s}"], model_name=r[f"generator_{s}"])
                for p, r in zip(prompts, rows)
                for s in (1, 2)
            ]
        )
        items = Item.objects.bulk_create(
            [
                Item(
                    project=project,
                    prompt=p,
                    kind="pairwise",
                    response_a=responses[2 * n],
                    response_b=responses[2 * n + 1],
                )
                for n, p in enumerate(prompts)
            ]
        )
        Annotation.objects.bulk_create(
            [Annotation(item=it, annotator=who, kind="pairwise", preference=v) for it, v in zip(items, verdicts)]
        )
        return project, judge

    real = [{1: -2, 2: 2}.get(int(r["preference"]), 0) for r in rows]
    shuffled = list(np.random.default_rng(0).permutation(real))
    results = {}
    for name, verdicts in (("bench-pluralism-gpt4", real), ("bench-pluralism-shuffled", shuffled)):
        Project.objects.filter(name=name).delete()
        LMJudge.objects.filter(name=name).delete()
        project, judge = build(name, verdicts)
        try:
            started = time.perf_counter()
            row = audit(project).rows[0]
            results[name] = (row, time.perf_counter() - started)
        finally:
            project.delete()
            judge.delete()
    lengths_b = np.array([len(r["output_2"]) for r in rows])
    lengths_a = np.array([len(r["output_1"]) for r in rows])
    decisive = [v for v in real if v]
    out.append(
        f"AlpacaEval GPT-4 judge, {len(rows)} verdicts ({len(decisive)} decisive; B = alpaca-7b preferred in "
        f"{sum(v > 0 for v in decisive) / len(decisive):.1%}); B longer than A in {np.mean(lengths_b > lengths_a):.1%} of pairs"
    )
    for name, (row, seconds) in results.items():
        e = row.length
        out.append(
            f"{name}: length slope {e.value:+.3f} [95% CI {e.low:+.3f}, {e.high:+.3f}] over {e.n} decisive labels"
            f"{' (CI excludes 0)' if e.excludes_zero else ' (CI includes 0)'}; audit {seconds:.1f} s"
        )
    real_row = results["bench-pluralism-gpt4"][0]
    props = ", ".join(f"{p} {e.value:+.2f} [{e.low:+.2f}, {e.high:+.2f}]" for p, e in real_row.properties.items())
    out.append(f"property dissection (GPT-4 judge): {props}")
    base = results["bench-pluralism-shuffled"][0].length.value
    out.append(f"length slope, real vs shuffled verdicts: {real_row.length.value:+.3f} vs {base:+.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "alpaca_eval_gpt4_judged.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pluralism.txt"))
    args = parser.parse_args()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    out = ["pluralism benchmark"]
    groups_section(out)
    if Path(args.data).exists():
        length_section(out, args.data)
    else:
        out.append(f"{args.data} not found: length-bias section skipped")
    text = "\n".join(out)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
