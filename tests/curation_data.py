"""Builders for curation tests: labelled items from people, judges and imported sources."""

import itertools

from annotate.models import Annotation, Annotator, AnnotatorKind, LMJudge
from tests import factories

_seq = itertools.count(1)


def person(project, name=None):
    return factories.human(factories.user(name or f"person-{next(_seq)}", project=project))


def judge(project, name=None):
    j = LMJudge.objects.create(name=name or f"judge-{next(_seq)}", backend="openai", model="m")
    j.projects.add(project)
    return Annotator.objects.create(kind=AnnotatorKind.JUDGE, name=f"judge:{j.name}", judge=j)


def source(name=None, label_kind="judge"):
    return Annotator.objects.create(
        kind=AnnotatorKind.SOURCE, name=name or f"source-{next(_seq)}", label_kind=label_kind
    )


def label(item, who, preference=None, thumbs="", edited_text=None, **fields):
    return Annotation.objects.create(
        item=item,
        annotator=who,
        kind=item.kind,
        preference=preference,
        thumbs=thumbs,
        edited_text=edited_text,
        **fields,
    )


def labelled_project(project, pairs=12, binaries=4, edits=3, annotators=2):
    """A project with pairs (several people each), binary and edit items; returns the people."""
    people = [person(project) for _ in range(annotators)]
    for i in range(pairs):
        item = factories.item(
            project,
            text_a=f"Answer A{i}",
            text_b=f"Answer B{i}",
            prompt_obj=factories.prompt(project, text=f"Pair question {i}?"),
        )
        for j, who in enumerate(people):
            pref = (2 if i % 3 else -2) + (j % 2)
            label(item, who, preference=pref, rationale=f"reason {i}-{j}")
    for i in range(binaries):
        item = factories.item(
            project,
            kind="binary",
            text_a=f"Single answer {i}",
            prompt_obj=factories.prompt(project, text=f"Binary question {i}?"),
        )
        label(
            item,
            people[0],
            thumbs="up" if i % 2 else "down",
            failed_principles=[] if i % 2 else ["Be honest"],
            reason="r",
        )
    for i in range(edits):
        item = factories.item(
            project,
            kind="edit",
            text_a=f"The draft answer number {i}.",
            prompt_obj=factories.prompt(project, text=f"Edit question {i}?"),
        )
        label(item, people[0], edited_text=f"The improved answer number {i}.")
    return people
