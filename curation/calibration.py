"""The calibration slice: a uniformly random share of a project's items that people AND judges
label, drawn before any routing. Routers learn only here (plus gold), and routing curves are
measured only here, so nothing a router chose ever trains or grades a router.

Drawn once per project and kept: later routing runs reuse it (adding items to reach a larger
requested size, again at random among items not yet in it), so the slice never depends on what a
router did. Items a project's embedding reward-model judge trained on are never drawn: that judge
does not label them, and the slice needs judge labels.
"""

import math
import secrets
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from annotate.judging.reward_training import default_training_slice, item_ids, trained_on
from annotate.models import (
    Annotation,
    AnnotationStatus,
    AnnotatorKind,
    Item,
    JudgeBackend,
    LMJudge,
    Project,
    Routing,
    human_label_q,
)
from annotate.projects import lock_project
from curation.labels import direction
from workers.models import RunKind, RunState, TaskRun

DEFAULT_FRACTION = 0.1
DEFAULT_MINIMUM = 50


@dataclass
class Interval:
    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass
class CalibrationStats:
    size: int
    fraction: float
    labelled_by_both: int
    reference: str
    human_accuracy: Interval
    judge_accuracy: Interval


def wilson(successes: int, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval for a proportion."""
    if n == 0:
        return Interval(None, None, None, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(round(p, 4), round(centre - half, 4), round(centre + half, 4), n)


def target_size(n_items: int, fraction: float = DEFAULT_FRACTION, minimum: int = DEFAULT_MINIMUM) -> int:
    return min(n_items, max(int(minimum), int(math.ceil(float(fraction) * n_items))))


def ensure_slice(
    project: Project, fraction: float = DEFAULT_FRACTION, minimum: int = DEFAULT_MINIMUM, seed: int | None = None
) -> list[int]:
    """Mark the slice (or grow it to the requested size) uniformly at random among non-gold items;
    returns the slice's item ids. Marked items are routed to both people and judges."""
    if not 0 <= float(fraction) <= 1:
        raise ValueError("the calibration fraction is a share of the items, 0..1")
    with transaction.atomic():
        lock_project(project)
        candidates = np.array(
            Item.objects.filter(project=project, is_gold=False).order_by("pk").values_list("pk", flat=True),
            dtype=np.int64,
        )
        current = set(Item.objects.filter(project=project, calibration=True).values_list("pk", flat=True))
        want = target_size(len(candidates), fraction, minimum)
        if len(current) < want:
            rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
            taken = list(current | judge_training_items(project))
            free = candidates[~np.isin(candidates, taken)]
            picked = rng.choice(free, size=min(want - len(current), len(free)), replace=False)
            Item.objects.filter(pk__in=picked.tolist()).update(calibration=True)
            current |= {int(p) for p in picked}
        Item.objects.filter(pk__in=list(current)).exclude(routing=Routing.BOTH).update(routing=Routing.BOTH)
    return sorted(current)


def judge_training_items(project: Project) -> set[int]:
    """Items the project's embedding reward-model judges trained on (reward_training records them),
    and the items of training runs still queued or running (recorded on the judge only when done)."""
    judges = LMJudge.objects.filter(projects=project, backend=JudgeBackend.EMBEDDING_RM).only("parameters")
    done = {pk for judge in judges for pk in trained_on(judge)}
    pending = TaskRun.objects.filter(
        project=project, kind=RunKind.JUDGE_TRAINING, state__in=[RunState.QUEUED, RunState.RUNNING]
    ).values_list("params", flat=True)
    return done | {pk for params in pending if isinstance(params, dict) for pk in item_ids(params.get("item_ids"))}


def judge_training_slice(project: Project, limit: int = 500, seed: int = 0) -> list[int]:
    """Items to train an embedding reward-model judge on: when the project has no calibration slice
    yet, it is drawn first (at the default size; a slice drawn before is kept as it is), so the
    judge's items are never in it and the slice keeps its judge labels; then up to `limit`
    labelled pairwise items outside it."""
    if not Item.objects.filter(project=project, calibration=True).exists():
        ensure_slice(project, DEFAULT_FRACTION, DEFAULT_MINIMUM)
    return default_training_slice(project, limit=limit, seed=seed)


def slice_against_budget(
    project: Project, budget_percent: float | None, count: int | None, fraction: float, minimum: int
) -> tuple[int, int]:
    """(items the slice will hold, items the budget buys) for a routing request: the slice as drawn,
    or as the request would draw or grow it (the minimum included)."""
    n = Item.objects.filter(project=project, is_gold=False).count()
    current = Item.objects.filter(project=project, is_gold=False, calibration=True).count()
    budget = int(count) if count is not None else round((budget_percent or 0) / 100 * n)
    return max(current, target_size(n, fraction, minimum)), min(budget, n)


def stats(project: Project) -> CalibrationStats:
    """Size of the slice, and human and judge accuracy on it with 95 % Wilson intervals.

    Reference: gold answers where the slice (or the gold set) has them — then both humans and
    judges are scored against gold; otherwise judges are scored against the people's consensus
    and people against each other (agreement of two labels on the same item)."""
    n_items = Item.objects.filter(project=project, is_gold=False).count()
    ids = list(Item.objects.filter(project=project, is_gold=False, calibration=True).values_list("pk", flat=True))
    gold = {
        pk: direction(kind, (g or {}).get("preference"), (g or {}).get("thumbs"))
        for pk, kind, g in Item.objects.filter(project=project, is_gold=True).values_list("pk", "kind", "gold_answer")
    }
    scope = set(ids) | set(gold)
    human: dict[int, list[int]] = {}
    judge: dict[int, list[int]] = {}
    human_pks = set(Annotation.objects.filter(human_label_q(), item_id__in=scope).values_list("pk", flat=True))
    rows = Annotation.objects.filter(item_id__in=scope, status=AnnotationStatus.OK).values_list(
        "pk", "item_id", "kind", "preference", "thumbs", "annotator__kind"
    )
    for pk, item_id, kind, pref, thumbs, who in rows:
        d = direction(kind, pref, thumbs)
        if d is None:
            continue
        if pk in human_pks:
            human.setdefault(item_id, []).append(d)
        elif who in (AnnotatorKind.JUDGE, AnnotatorKind.SOURCE):  # not a person's: a judge's or an imported model's
            judge.setdefault(item_id, []).append(d)
    both = [pk for pk in ids if pk in human and pk in judge]
    gold_scored = [pk for pk in scope if gold.get(pk) and pk in human]
    if len(gold_scored) >= 10:
        h = [d == gold[pk] for pk in gold_scored for d in human[pk]]
        j = [int(np.sign(sum(judge[pk]))) == gold[pk] for pk in scope if gold.get(pk) and pk in judge]
        reference = "gold answers"
    else:
        h = [a == b for pk in ids for i, a in enumerate(human.get(pk, [])) for b in human[pk][i + 1 :]]
        j = []
        for pk in both:
            consensus = int(np.sign(sum(human[pk])))
            if consensus:
                j.append(int(np.sign(sum(judge[pk]))) == consensus)
        reference = "people's consensus (judges); agreement between two people (humans)"
    return CalibrationStats(
        len(ids),
        round(len(ids) / n_items, 4) if n_items else 0.0,
        len(both),
        reference,
        wilson(sum(h), len(h)),
        wilson(sum(j), len(j)),
    )
