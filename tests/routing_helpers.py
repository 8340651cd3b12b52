"""Test helpers for routing: a project whose judge is wrong on a known slice of items."""

import random

from django.contrib.auth import get_user_model

from annotate.judging.service import judge_annotator
from annotate.models import Annotation, Item, LMJudge
from curation import calibration
from curation.models import ItemFeatures
from tests import factories


def structured_project(project, n=200, labelled=None, seed=0, hard_domain="math", calibration_fraction=0.3):
    """`n` pairwise items; the judge is wrong on `hard_domain` items and right elsewhere. A random
    calibration slice (`calibration_fraction`, drawn with `seed`) carries one correct human label
    per item; `labelled` (optional) also gives the first items outside the slice a human label
    (items people labelled before, e.g. after an earlier routing). Features are written directly."""
    rng = random.Random(seed)
    judge = LMJudge.objects.create(name=f"judge-{project.pk}", backend="openai", model="m")
    judge.projects.add(project)
    jann = judge_annotator(judge)
    user = factories.user(f"human-{project.pk}", project=project)
    hann = factories.human(user)
    items, feats, labels, truths = [], [], [], {}
    for i in range(n):
        item = factories.item(project, text_a=f"a{i}", text_b=f"b{i}")
        hard = rng.random() < 0.3
        truth = rng.choice([-2, 2])
        truths[item.pk] = truth
        items.append((item, hard))
        feats.append(
            ItemFeatures(
                item=item,
                values={
                    "len_prompt": rng.randint(3, 50),
                    "len_a": rng.randint(5, 300),
                    "len_b": rng.randint(5, 300),
                    "len_ratio": 1 + rng.random(),
                    "rouge_l": rng.random(),
                    "bleu": rng.random(),
                    "sim_ab": rng.random(),
                    "judge_confidence": rng.uniform(0.5, 1.0),
                    "judge_count": 1,
                },
                tags={
                    "domain": hard_domain if hard else rng.choice(["code", "general", "history"]),
                    "task_type": "open_qa",
                },
            )
        )
        labels.append(
            Annotation(item=item, annotator=jann, kind="pairwise", preference=-truth if hard else truth, confidence=1.0)
        )
    ItemFeatures.objects.bulk_create(feats)
    Annotation.objects.bulk_create(labels)
    in_slice = set(calibration.ensure_slice(project, calibration_fraction, minimum=0, seed=seed))
    extra = [it for it, _ in items if it.pk not in in_slice][: labelled or 0]
    human_items = [it for it, _ in items if it.pk in in_slice] + extra
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=hann, kind="pairwise", preference=truths[it.pk]) for it in human_items]
    )
    Item.objects.filter(pk__in=[it.pk for it in human_items]).update(human_label_count=1)
    return items, judge, user


def clear_users():
    get_user_model().objects.all().delete()
