import pytest

from curation.labels import aggregate_labels, direction, label_frame, label_rows, source_class
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def test_direction_collapses_scale_and_thumbs():
    assert [direction("pairwise", p) for p in (-3, -1, 0, 1, 3)] == [-1, -1, 0, 1, 1]
    assert direction("binary", thumbs="up") == 1 and direction("binary", thumbs="down") == -1
    assert direction("edit") is None and direction("pairwise", None) is None


def test_label_table_has_one_row_per_item_and_annotator(project):
    people = cd.labelled_project(project, pairs=3, binaries=1, edits=1, annotators=2)
    rows = list(label_rows(project))
    assert len(rows) == 3 * 2 + 1 + 1
    assert {(r["item_id"], r["annotator_id"]) for r in rows}.__len__() == len(rows)
    assert {r["annotator_kind"] for r in rows} == {"human"}
    frame = label_frame(project, kinds=["pairwise"])
    assert len(frame) == 6 and set(frame["annotator_id"]) == {p.pk for p in people}


def test_unparsed_labels_are_left_out(project):
    jury = cd.judge(project)
    item = factories.item(project)
    cd.label(item, jury, status="unparsed")
    assert list(label_rows(project)) == []


def test_aggregation_prefers_people_then_judges(project):
    a, b, src, jury = (
        cd.person(project),
        cd.person(project),
        cd.source("hh-rlhf", label_kind="human"),
        cd.judge(project),
    )
    mixed = factories.item(project)
    cd.label(mixed, a, preference=-3)
    cd.label(mixed, src, preference=1)
    cd.label(mixed, jury, preference=3)
    judged = factories.item(project)
    cd.label(judged, jury, preference=-2)
    tie = factories.item(project)
    cd.label(tie, a, preference=-1)
    cd.label(tie, b, preference=1)
    binary = factories.item(project, kind="binary")
    for who, t in ((a, "up"), (b, "down"), (src, "down")):
        cd.label(binary, who, thumbs=t)
    unchanged = factories.item(project, kind="edit", text_a="Same text.")
    cd.label(unchanged, a, edited_text="Same text. ")
    aggs = aggregate_labels(project)
    assert aggs[mixed.pk].preference == -1 and aggs[mixed.pk].direction == -1 and aggs[mixed.pk].margin == 1
    assert aggs[mixed.pk].sources == ["human", "source"] and aggs[mixed.pk].judge_directions == [1]
    assert source_class(aggs[mixed.pk]) == "both" and source_class(aggs[judged.pk]) == "judge"
    assert aggs[judged.pk].direction == -1 and aggs[judged.pk].sources == ["judge"]
    assert aggs[tie.pk].direction == 0
    assert aggs[binary.pk].direction == -1
    assert aggs[unchanged.pk].edits == []


def test_a_source_counts_as_people_only_when_declared_human(project):
    """An imported source's labels are a model's unless its import declared them people's: a
    judge-labelled source (UltraFeedback/AlpacaEval scores) never outvotes a person, and stands in
    as a model's label where no person labelled the item."""
    person, gpt4, crowd = cd.person(project), cd.source("alpaca_eval_gpt4"), cd.source("crowd", label_kind="human")
    mixed = factories.item(project)
    cd.label(mixed, person, preference=-2)
    cd.label(mixed, gpt4, preference=3)
    judged = factories.item(project)
    cd.label(judged, gpt4, preference=2)
    crowded = factories.item(project)
    cd.label(crowded, crowd, preference=-1)
    rows = {(r["item_id"], r["annotator_id"]): r for r in label_rows(project)}
    assert (
        rows[(mixed.pk, gpt4.pk)]["is_person"] is False and rows[(mixed.pk, gpt4.pk)]["annotator_label_kind"] == "judge"
    )
    assert rows[(crowded.pk, crowd.pk)]["is_person"] is True
    aggs = aggregate_labels(project)
    assert aggs[mixed.pk].preference == -2 and aggs[mixed.pk].judge_directions == [1]
    assert source_class(aggs[mixed.pk]) == "both"
    assert aggs[judged.pk].direction == 1 and source_class(aggs[judged.pk]) == "judge"
    assert aggs[crowded.pk].direction == -1 and source_class(aggs[crowded.pk]) == "human"
