import uuid

import pytest
from django.db import IntegrityError, transaction

from annotate.models import Annotation, Annotator, AnnotatorKind, Item, LMJudge, Project
from tests import factories

pytestmark = pytest.mark.django_db


def test_pairwise_item_needs_two_responses(project):
    item = factories.item(project, kind="binary")
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(project=project, prompt=item.prompt, kind="pairwise", response_a=item.response_a)


def test_binary_item_may_not_have_second_response(project):
    pair = factories.item(project, kind="pairwise")
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(
            project=project, prompt=pair.prompt, kind="binary", response_a=pair.response_a, response_b=pair.response_b
        )


def test_gold_item_needs_answer(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.item(project, is_gold=True)


@pytest.mark.parametrize("field,value", [("overlap", 0), ("human_budget", 1.5), ("gold_rate", -0.1)])
def test_project_constraints(field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(name="bad", **{field: value})


def test_preference_range_enforced(project, annotator_user):
    item = factories.item(project)
    who = factories.human(annotator_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(item=item, annotator=who, kind="pairwise", preference=4)
    Annotation.objects.create(item=item, annotator=who, kind="pairwise", preference=-3)


def test_annotation_must_carry_its_kind_label(project, annotator_user):
    who = factories.human(annotator_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(item=factories.item(project, kind="binary"), annotator=who, kind="binary")
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(item=factories.item(project), annotator=who, kind="pairwise")


def test_unparsed_judge_reply_is_recorded_without_label(project):
    judge = LMJudge.objects.create(name="j", backend="openai", model="m")
    who = Annotator.objects.create(kind=AnnotatorKind.JUDGE, name="judge:j", judge=judge)
    ann = Annotation.objects.create(
        item=factories.item(project), annotator=who, kind="pairwise", status="unparsed", details={"raw": "???"}
    )
    assert ann.preference is None


def test_annotator_identity_matches_kind(annotator_user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotator.objects.create(kind=AnnotatorKind.JUDGE, name="x", user=annotator_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotator.objects.create(kind=AnnotatorKind.HUMAN, name="y")
    Annotator.objects.create(kind=AnnotatorKind.SOURCE, name="hh-rlhf")


def test_submission_id_is_unique_per_annotator(project, annotator_user):
    who = factories.human(annotator_user)
    sid = uuid.uuid4()
    Annotation.objects.create(
        item=factories.item(project), annotator=who, kind="pairwise", preference=1, submission_id=sid
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(
            item=factories.item(project), annotator=who, kind="pairwise", preference=1, submission_id=sid
        )


def test_edit_annotation_derives_diff_and_distance(project, annotator_user):
    item = factories.item(project, kind="edit", text_a="The cat sat on the mat.")
    ann = Annotation.objects.create(
        item=item,
        annotator=factories.human(annotator_user),
        kind="edit",
        edited_text="The big cat sat on a mat.",
        diff=[["equal", "forged", "forged"]],
        edit_distance=0.99,
    )
    ann.refresh_from_db()
    assert ["insert", "", "big "] in ann.diff
    assert ann.edit_distance == pytest.approx(2 / 7)
