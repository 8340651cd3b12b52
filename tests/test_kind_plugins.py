"""A feedback kind is a plug-in on the judging and export sides too: a toy kind registered in this
test alone is judged through the generic `annotate.judging` code (templates, overrides, requests,
parsing) and its snapshot rows come from `curation.snapshots`, without either naming it."""

import pytest

from annotate.forms import ProjectForm
from annotate.judging import kind_judges, prompts, service
from annotate.judging.backends import RequestFailed
from annotate.kinds import judge_prompts, registry
from annotate.kinds.base import FeedbackKindSpec
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.registry import UnknownKind
from annotate.kinds.replies import Parsed, first_with, json_objects, unparsed, unparsed_fields
from annotate.kinds.replies import parse as parse_reply
from annotate.models import AnnotationStatus, Annotator, AnnotatorKind, LMJudge
from curation.actions import CuratedItem
from curation.forms import FilterForm
from curation.labels import Aggregate
from curation.snapshots import rows_for
from tests import factories

TOY_PROMPT = """Grade this response from 1 to 10.

$prompt

$response

Reply with exactly one JSON object: {"grade": <integer 1-10>}"""


def parse_grade(text):
    obj = first_with(json_objects(text), ("grade",))
    if obj is None or not isinstance(obj["grade"], int) or not 1 <= obj["grade"] <= 10:
        return unparsed("no grade 1-10")
    return Parsed(True, {"grade": obj["grade"]}, source="json")


class ToyGradeKind(FeedbackKindSpec):
    key = "toy_grade"
    label = "Toy grade"
    form_template = "annotate/_form_binary.html"
    label_fields = ("aspect_ratings",)
    judge_templates = {"toy_grade": JudgeTemplate(TOY_PROMPT, frozenset({"prompt", "response"}))}

    def judge_requests(self, item, overrides):
        values = {"prompt": judge_prompts.conversation_text(item.prompt), "response": item.response_a.text}
        messages = judge_prompts.messages(self.judge_templates["toy_grade"], "toy_grade", overrides, values)
        return [JudgeRequest("grade", messages)]

    def judge_label(self, item, replies):
        (reply,) = replies
        parsed = parse_reply(parse_grade, reply)
        if not parsed.ok:
            return unparsed_fields(reply, parsed)
        return {"aspect_ratings": {"grade": parsed.label["grade"]}, "details": {"raw": reply.raw}}

    def snapshot_rows(self, c):
        grades = [r["aspect_ratings"]["grade"] for r in c.labels]
        return [{**c.base, "completion": c.text_a, "grade": sum(grades) / len(grades)}] if grades else []


@pytest.fixture
def toy_kind():
    registry.register(ToyGradeKind())
    yield registry.get("toy_grade")
    registry.unregister("toy_grade")


@pytest.mark.django_db
def test_a_registered_kind_is_judged_without_touching_judging(toy_kind):
    project = factories.project()
    item = factories.item(project, kind="binary", text_a="Paris is the capital of France.")
    item.kind = "toy_grade"  # in memory only: the database still checks kinds against its enum
    judge = LMJudge(name="toy", prompt_templates={})
    annotator = Annotator(kind=AnnotatorKind.JUDGE, name="judge:toy")

    (request,) = service.requests_for(item, judge)
    assert request.item is item and request.role == "grade"
    assert request.messages[0]["content"] == judge_prompts.SYSTEM
    assert "Paris is the capital of France." in request.messages[1]["content"]
    assert request.messages[1]["content"].startswith("Grade this response from 1 to 10.")

    good = service.build_annotation(item, annotator, ['Thinking... {"grade": 7}'])
    assert good.status == AnnotationStatus.OK and good.aspect_ratings == {"grade": 7}
    assert good.kind == "toy_grade" and good.details["raw"] == {"reply": 'Thinking... {"grade": 7}'}
    bad = service.build_annotation(item, annotator, ['{"grade": 70}'])
    assert bad.status == AnnotationStatus.UNPARSED and bad.details["error"] == "no grade 1-10"
    failed = service.build_annotation(item, annotator, [RequestFailed("context too long", "413 body")])
    assert failed.status == AnnotationStatus.UNPARSED and failed.details["error"] == "context too long"


@pytest.mark.django_db
def test_a_registered_kind_s_templates_are_overridable_and_validated(toy_kind):
    assert prompts.defaults()["toy_grade"]["user"] == TOY_PROMPT
    assert prompts.validate_overrides({"toy_grade": "Grade $response for $prompt"}) == []
    assert prompts.validate_overrides({"toy_grade": "Grade $response_b"})  # not a placeholder of it
    project = factories.project()
    item = factories.item(project, kind="binary", text_a="forty-two")
    item.kind = "toy_grade"
    judge = LMJudge(name="toy", prompt_templates={"toy_grade": {"user": "Grade: $response"}})
    (request,) = kind_judges.judge_for("toy_grade").requests(item, judge.prompt_templates)
    assert request.messages[1]["content"] == "Grade: forty-two"


def test_an_unregistered_kind_is_not_judged():
    assert "toy_grade" not in prompts.defaults()
    assert prompts.validate_overrides({"toy_grade": "x"})
    with pytest.raises(UnknownKind):
        kind_judges.judge_for("toy_grade")


def test_a_kind_without_templates_is_not_judged_by_lms():
    class Unjudged(FeedbackKindSpec):
        key = "toy_unjudged"
        label = "Unjudged"
        form_template = "x.html"

    registry.register(Unjudged())
    try:
        with pytest.raises(UnknownKind, match="LM judges cannot label 'toy_unjudged'"):
            kind_judges.judge_for("toy_unjudged")
    finally:
        registry.unregister("toy_unjudged")


def test_a_registered_kind_s_snapshot_rows_come_from_the_kind(toy_kind):
    labels = [{"aspect_ratings": {"grade": 6}}, {"aspect_ratings": {"grade": 9}}]
    agg = Aggregate(item_id=5, kind="toy_grade", sources=["human"], n_labels=2, labels=labels)
    c = CuratedItem(agg=agg, item_id=5, kind="toy_grade", prompt_text="Q?", text_a="A.")
    assert rows_for(c) == [
        (
            "toy_grade",
            {"prompt": "Q?", "messages": None, "item_id": 5, "sources": ["human"], "completion": "A.", "grade": 7.5},
        )
    ]
    assert rows_for(CuratedItem(agg=Aggregate(item_id=6, kind="toy_grade"), item_id=6, kind="toy_grade")) == []


def test_forms_offer_the_registered_kinds(toy_kind):
    assert ("toy_grade", "Toy grade") in ProjectForm().fields["feedback_kinds"].choices
    assert ("toy_grade", "Toy grade") in FilterForm().fields["kinds"].choices
