"""Judge-bias audit: does a labeller's verdict follow the position, the length, the model family or
surface properties of the responses rather than their quality? Per LM judge, and for people (each
person with enough labels, and all people pooled) for comparison.

- Length bias: a logistic regression of "B preferred" on the standardised log length ratio
  log(len B / len A) / sd; the slope with a percentile-bootstrap 95% CI (labels resampled). A
  labeller indifferent to length has a slope near 0; AlpacaEval's GPT-4 judge is known to be > 0.
- Self-preference (after *Beyond the Surface*, simplified): on the items where exactly one
  response comes from the judge's declared family, the judge's win-rate for that response minus
  the people's (or the gold answer's) win-rate on the same items, with an item-bootstrap CI.
  The paper also controls for quality with a gold judge; here people are the reference.
- Property dissection (after *Dissecting Human and LLM Preferences*, simplified to a handful of
  regex properties instead of their GPT-4 annotated 29): one multivariate logistic regression of
  the verdict on standardised B−A property differences, per labeller.
- `errors` joins the dissection when an LM error tagger is configured and its worker task has run
  (curation/error_tags.py): B's "contains an error" minus A's, an answer that is neither yes nor no
  counted as no error. Without a tagger, or before the task ran, the audit says so in errors_note.
- Position bias is curation.agreement.position_bias, reused.
- When preference groups have been fitted (curation.pluralism), each group's pooled labels get a
  row too, so a judge can be compared with each group of people, not only their average.

Ties are dropped from the regressions (a tie is neither side). Nothing here is a causal claim:
longer answers may also be better; the comparison with people is what makes a slope a bias.
"""

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Max

from annotate.models import Annotation, Annotator, AnnotatorKind, FeedbackKind, Item
from curation.agreement import position_bias
from curation.error_tags import tagger_for
from curation.families import FAMILY_PREFIXES, family_of  # noqa: F401 (re-exported for the page)
from curation.labels import label_rows
from curation.models import ErrorTag
from curation.pluralism import latest_run

MIN_LABELS = 20  # a person needs this many decisive labels for their own row
N_BOOT = 200

# --- response properties -------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(i can(?:'|no)t|i cannot|i'm sorry|i am sorry|i'm unable|i am unable|as an ai|i won't)\b", re.I
)
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)]|#{1,6})\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*")
_CODE = re.compile(r"```|^(?: {4}|\t)\S", re.M)
_HEDGE = re.compile(
    r"\b(might|may|perhaps|possibly|probably|it depends|generally|typically|likely|could be|not sure)\b", re.I
)
_POLITE = re.compile(
    r"\b(please|thank you|thanks|happy to help|glad to|great question|hope this helps|certainly|of course)\b", re.I
)

PROPERTIES = ("length", "refusal", "lists_markdown", "code", "hedging", "politeness")


def properties(text: str) -> np.ndarray:
    """The response's property vector, in PROPERTIES order."""
    text = text or ""
    return np.array(
        [
            math.log1p(len(text)),
            1.0 if _REFUSAL.search(text[:400]) else 0.0,
            math.log1p(len(_LIST.findall(text)) + len(_BOLD.findall(text))),
            1.0 if _CODE.search(text) else 0.0,
            math.log1p(len(_HEDGE.findall(text))),
            math.log1p(len(_POLITE.findall(text))),
        ]
    )


# --- logistic regression ---------------------------------------------------------------------
def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Newton–Raphson for P(y=1) = σ(b0 + x·b), a small L2 penalty on b (keeps separable data,
    e.g. a judge that always picks the longer answer, finite). Returns [b0, b...]."""
    x = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 1e-6
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (y - p) - penalty * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def bootstrap_coefficients(
    x: np.ndarray, y: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coefficients without intercept, 2.5% and 97.5% percentiles over label resamples)."""
    coef = fit_logistic(x, y)[1:]
    rng = np.random.default_rng(seed)
    draws = np.array([fit_logistic(x[idx], y[idx])[1:] for idx in rng.integers(0, len(y), size=(n_boot, len(y)))])
    return coef, np.quantile(draws, 0.025, axis=0), np.quantile(draws, 0.975, axis=0)


@dataclass
class Estimate:
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0

    @property
    def excludes_zero(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0


@dataclass
class LabellerBias:
    """One row of the audit: a judge, a person, or all people pooled."""

    name: str
    kind: str  # judge, human, source, "people" (all pooled) or "group" (a preference group pooled)
    family: str = ""
    decisive: int = 0
    length: Estimate = field(default_factory=lambda: Estimate(None))
    self_preference: Estimate | None = None
    own_family_items: int = 0
    properties: dict = field(default_factory=dict)  # property → Estimate
    position: dict | None = None  # the position_bias row


@dataclass
class BiasAudit:
    rows: list  # LabellerBias, judges first, then people pooled, then persons
    properties: tuple = PROPERTIES
    items: int = 0
    errors_note: str = ""  # why `errors` is or is not among the properties


@dataclass
class PairLabel:
    item_id: int
    labeller: int
    kind: str
    y: int  # 1 = B preferred


def _regressions(labels, diffs, scale, names=PROPERTIES):
    x = np.array([diffs[lab.item_id] for lab in labels]) / scale
    y = np.array([lab.y for lab in labels], dtype=float)
    if len(y) < 5:
        return Estimate(None, n=len(y)), {}
    length_x = x[:, :1]
    coef, lo, hi = bootstrap_coefficients(length_x, y)
    length = Estimate(float(coef[0]), float(lo[0]), float(hi[0]), len(y))
    coef, lo, hi = bootstrap_coefficients(x, y, n_boot=N_BOOT // 2, seed=1)
    props = {p: Estimate(float(coef[i]), float(lo[i]), float(hi[i]), len(y)) for i, p in enumerate(names)}
    return length, props


def _self_preference(judge_labels, family, families, reference, seed=0):
    """Judge's own-family win-rate minus the reference's on the same items, bootstrap over items."""
    judge_wins, ref_wins = [], []
    for lab in judge_labels:
        fa, fb = families.get(lab.item_id, ("", ""))
        if (fa == family) == (fb == family) or lab.item_id not in reference:
            continue
        own_is_b = fb == family
        judge_wins.append(float(lab.y == own_is_b))
        ref_wins.append(reference[lab.item_id] if own_is_b else 1 - reference[lab.item_id])
    if not judge_wins:
        return None, 0
    diff = np.array(judge_wins) - np.array(ref_wins)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(N_BOOT * 5, len(diff)))].mean(axis=1)
    return Estimate(
        float(diff.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)), len(diff)
    ), len(diff)


def audit(project, rows=None, progress: Callable[[int, int], None] | None = None) -> BiasAudit:
    """The bias audit of a project's pairwise labels (people's and LM judges'). It costs seconds on a
    large project (a bootstrap per labeller), so only a worker calls it (curation/bias_store.py);
    `progress(done, total)` is called before each labeller's row and before the pooled rows."""
    rows = list(rows if rows is not None else label_rows(project, kinds=[FeedbackKind.PAIRWISE]))
    item_ids = {r["item_id"] for r in rows}
    items = list(
        Item.objects.filter(id__in=item_ids, kind=FeedbackKind.PAIRWISE).values_list(
            "id",
            "response_a__text",
            "response_b__text",
            "response_a__model_name",
            "response_b__model_name",
            "gold_answer",
            "response_a_id",
            "response_b_id",
        )
    )
    errors, errors_note = _error_column(project, [(i[0], i[6], i[7]) for i in items])
    prop_names = PROPERTIES + (("errors",) if errors is not None else ())
    diffs, families, gold = {}, {}, {}
    for item_id, a, b, model_a, model_b, gold_answer, _, _ in items:
        diffs[item_id] = properties(b) - properties(a)
        if errors is not None:
            diffs[item_id] = np.append(diffs[item_id], errors[item_id])
        families[item_id] = (family_of(model_a), family_of(model_b))
        if (
            isinstance(gold_answer, dict)
            and isinstance(gold_answer.get("preference"), (int, float))
            and gold_answer["preference"]
        ):
            gold[item_id] = float(gold_answer["preference"] > 0)
    by_labeller, names, people_votes = defaultdict(list), {}, defaultdict(list)
    people = {r["annotator_id"] for r in rows if r["is_person"]}  # a source only when declared human
    for r in rows:
        if r["item_id"] not in diffs or not r["direction"]:
            continue
        lab = PairLabel(r["item_id"], r["annotator_id"], r["annotator_kind"], int(r["direction"] > 0))
        by_labeller[r["annotator_id"]].append(lab)
        names[r["annotator_id"]] = (r["annotator_name"], r["annotator_kind"])
        if r["annotator_id"] in people:
            people_votes[r["item_id"]].append(lab.y)
    all_x = np.array(list(diffs.values())) if diffs else np.zeros((0, len(prop_names)))
    scale = all_x.std(axis=0) if len(all_x) > 1 else np.ones(len(prop_names))
    scale[scale < 1e-9] = 1.0
    reference = {i: float(np.mean(v)) for i, v in people_votes.items()}
    for i, g in gold.items():
        reference.setdefault(i, g)
    judge_families = _judge_families(names)
    positions = {p["annotator_id"]: p for p in position_bias(project, rows=rows)}

    out = []
    ordered = sorted(names.items(), key=lambda kv: (kv[1][1] != AnnotatorKind.JUDGE, kv[1][0]))
    for done, (labeller_id, (name, kind)) in enumerate(ordered):
        if progress is not None:
            progress(done, len(ordered) + 1)
        labels = by_labeller[labeller_id]
        if kind != AnnotatorKind.JUDGE and len(labels) < MIN_LABELS:
            continue
        length, props = _regressions(labels, diffs, scale, prop_names)
        row = LabellerBias(
            name=name,
            kind=kind,
            decisive=len(labels),
            length=length,
            properties=props,
            position=positions.get(labeller_id),
            family=judge_families.get(labeller_id, ""),
        )
        if kind == AnnotatorKind.JUDGE and row.family:
            row.self_preference, row.own_family_items = _self_preference(labels, row.family, families, reference)
        out.append(row)
    if progress is not None:
        progress(len(ordered), len(ordered) + 1)  # the pooled and per-group rows remain
    pooled = [lab for labs in by_labeller.values() for lab in labs if lab.labeller in people]
    first_person = next((i for i, r in enumerate(out) if r.kind != AnnotatorKind.JUDGE), len(out))
    if pooled:
        length, props = _regressions(pooled, diffs, scale, prop_names)
        out.insert(
            first_person,
            LabellerBias(name="people (all)", kind="people", decisive=len(pooled), length=length, properties=props),
        )
    out[first_person + 1 : first_person + 1] = (
        _group_rows(project, by_labeller, diffs, scale, prop_names) if pooled else []
    )
    if progress is not None:
        progress(len(ordered) + 1, len(ordered) + 1)
    return BiasAudit(rows=out, properties=prop_names, items=len(diffs), errors_note=errors_note)


def _error_column(project, items):
    """({item id: B's error − A's}, note), or (None, why not) without a tagger or its tags."""
    judge = tagger_for(project)
    if judge is None:
        return None, 'no error tagger configured (a generative judge with "error_tagger": true), so no errors property'
    responses = {r for _, a, b in items for r in (a, b) if r}
    tags = dict(
        ErrorTag.objects.filter(tagger=judge.name, response_id__in=responses).values_list("response_id", "has_error")
    )
    if not tags:
        return None, f"errors: not computed — run error tagging with {judge.name}"
    column = {i: float(tags.get(b) is True) - float(tags.get(a) is True) for i, a, b in items}
    missing = len(responses - set(tags))
    unparsed = sum(1 for v in tags.values() if v is None)
    note = (
        f"errors tagged by {judge.name}: {sum(1 for v in tags.values() if v)} of {len(tags)} responses have an error"
        f"{f'; {unparsed} answers neither yes nor no (counted as no error)' if unparsed else ''}"
        f"{f'; {missing} responses not tagged yet (counted as no error): run error tagging again' if missing else ''}"
    )
    return column, note


def audit_stamp(project) -> str:
    """What an audit depends on (the project's pairwise labels, its latest group fit, judge families,
    error tagger and tags), in a few aggregate queries: the page compares a stored audit's stamp with
    it to say when the audit is out of date, without recomputing anything."""
    stamp = Annotation.objects.filter(item__project=project, kind=FeedbackKind.PAIRWISE).aggregate(
        n=Count("id"), last=Max("id")
    )
    run = latest_run(project)
    tags = ErrorTag.objects.filter(response__prompt__project=project).aggregate(n=Count("id"), last=Max("id"))
    tagger = tagger_for(project)
    return (
        f"{stamp['n']}:{stamp['last']}:{run.pk if run else 0}:{_family_stamp(project)}:"
        f"{tagger.pk if tagger else 0}:{tags['n']}:{tags['last']}"
    )


def _family_stamp(project):
    return ",".join(f"{pk}={family}" for pk, family in project.judges.order_by("pk").values_list("pk", "family"))


def _group_rows(project, by_labeller, diffs, scale, names=PROPERTIES):
    """One pooled row per preference group of the latest fit (its members' labels)."""
    run = latest_run(project)
    if run is None or run.k < 2:
        return []
    members = defaultdict(list)
    for a in run.annotators:
        members[max(range(run.k), key=lambda g: a["weights"][g])].append(a["annotator_id"])
    rows = []
    for g in sorted(members):
        labels = [lab for pk in members[g] for lab in by_labeller.get(pk, [])]
        if len(labels) >= MIN_LABELS:
            length, props = _regressions(labels, diffs, scale, names)
            rows.append(
                LabellerBias(name=f"group {g + 1}", kind="group", decisive=len(labels), length=length, properties=props)
            )
    return rows


def _judge_families(names):
    judge_ids = [i for i, (_, kind) in names.items() if kind == AnnotatorKind.JUDGE]
    return {
        i: (family or "").lower()
        for i, family in Annotator.objects.filter(id__in=judge_ids).values_list("id", "judge__family")
    }
