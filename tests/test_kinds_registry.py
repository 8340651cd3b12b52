"""The feedback-kind registry: every kind the database accepts is registered, lookups by key work,
an unknown key is a clear error, and the hooks the rest of Tandem asks give each kind's answer."""

import pytest
from django.core.exceptions import ValidationError

from annotate.judging import kind_judges
from annotate.kinds import registry
from annotate.kinds.base import FeedbackKindSpec
from annotate.kinds.registry import UnknownKind
from annotate.kinds.scale import PREFERENCE_LABELS, SCALE
from annotate.models import FeedbackKind
from curation.labels import direction
from tests import factories as f


def test_every_database_kind_is_registered_and_looked_up_by_key():
    assert set(registry.keys()) == set(FeedbackKind.values)
    for key in FeedbackKind.values:
        spec = registry.get(key)
        assert isinstance(spec, FeedbackKindSpec) and spec.key == key and spec.form_template


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(UnknownKind, match="unknown feedback kind 'nonesuch'.*pairwise"):
        registry.get("nonesuch")
    with pytest.raises(UnknownKind):
        kind_judges.judge_for("nonesuch")


def test_registering_a_second_kind_under_a_taken_key_is_refused():
    class Impostor(FeedbackKindSpec):
        key = "pairwise"
        label = "Impostor"
        form_template = "x.html"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor())


def test_one_direction_function_for_every_kind():
    assert [direction("pairwise", p) for p in (-3, -1, 0, 1, 3)] == [-1, -1, 0, 1, 1]
    assert direction("binary", thumbs="up") == 1 and direction("binary", thumbs="down") == -1
    assert direction("edit", None) is None


def test_one_scale():
    assert [p.value for p in SCALE] == list(range(-3, 4))
    assert PREFERENCE_LABELS[-3] == "A much better" and PREFERENCE_LABELS[3] == "B much better"


@pytest.mark.django_db
def test_gold_answers_are_checked_by_the_kind():
    project = f.project()
    pair, single, edit = f.item(project), f.item(project, kind="binary"), f.item(project, kind="edit")
    assert registry.get("pairwise").clean_gold_answer(pair, {"preference": "2"}) == {"preference": 2}
    assert registry.get("binary").clean_gold_answer(single, {"thumbs": "down"}) == {"thumbs": "down"}
    for spec, item, bad in ((registry.get("pairwise"), pair, {"preference": 9}), (registry.get("edit"), edit, {})):
        with pytest.raises(ValidationError):
            spec.clean_gold_answer(item, bad)
