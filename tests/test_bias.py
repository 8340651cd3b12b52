"""The judge-bias audit against planted biases: a judge that always picks the longer response, one
that always picks its own family's response, and people who pick at random."""
import random

import pytest
from django.test import Client

from annotate.models import Annotation, Item, Prompt, Response
from annotate.content import prompt_hash
from curation import bias
from tests import curation_data as cd

pytestmark = pytest.mark.django_db


def _pairs(project, n, seed=0):
    """n pairwise items with random lengths; A from a GPT model, B from a Llama one."""
    rng = random.Random(seed)
    prompts = Prompt.objects.bulk_create([Prompt(project=project, text=f"Q{i}", content_hash=prompt_hash(f"Q{i}", None)) for i in range(n)])
    responses = Response.objects.bulk_create([
        Response(prompt=p, text="word " * rng.randint(5, 300), model_name=name)
        for p in prompts for name in ("gpt-4o-mini", "meta-llama/Llama-3.1-8B")])
    return Item.objects.bulk_create([Item(project=project, prompt=p, kind="pairwise", response_a=responses[2 * i],
                                          response_b=responses[2 * i + 1]) for i, p in enumerate(prompts)])


def _label(items, who, choose):
    Annotation.objects.bulk_create([Annotation(item=it, annotator=who, kind="pairwise", preference=choose(it)) for it in items])


def test_planted_length_and_self_preference_are_found_and_people_look_unbiased(project):
    items = _pairs(project, 150)
    rng = random.Random(1)
    for _ in range(2):
        _label(items, cd.person(project), lambda it: rng.choice([-2, -1, 1, 2]))
    longer = cd.judge(project, "longer")
    _label(items, longer, lambda it: 2 if len(it.response_b.text) > len(it.response_a.text) else -2)
    fair = cd.judge(project, "fair")
    _label(items, fair, lambda it: rng.choice([-1, 1]))
    own = cd.judge(project, "own")
    own.judge.family = "openai"
    own.judge.save()
    _label(items, own, lambda it: -2)  # always the GPT response (A)

    result = bias.audit(project)
    rows = {r.name: r for r in result.rows}
    assert rows["judge:longer"].length.value > 1 and rows["judge:longer"].length.low > 0
    assert rows["judge:fair"].length.low < 0 < rows["judge:fair"].length.high
    people = rows["people (all)"]
    assert people.kind == "people" and people.decisive == 300
    assert people.length.low < 0 < people.length.high
    # Self-preference: the judge picks its family's response every time, people half the time.
    sp = rows["judge:own"].self_preference
    assert rows["judge:own"].own_family_items == 150
    assert 0.35 < sp.value < 0.65 and sp.low > 0
    assert rows["judge:longer"].self_preference is None  # no family declared
    # Dissection: the length judge's length property dominates its other properties.
    props = rows["judge:longer"].properties
    assert props["length"].value > max(abs(e.value) for p, e in props.items() if p != "length")


def test_family_mapping():
    assert bias.family_of("gpt-4-turbo") == "openai"
    assert bias.family_of("o1-preview") == "openai"
    assert bias.family_of("anthropic/claude-3-opus") == "anthropic"
    assert bias.family_of("meta-llama/Meta-Llama-3-70B-Instruct") == "meta"
    assert bias.family_of("Qwen/Qwen2-7B") == "alibaba"
    assert bias.family_of("mixtral-8x7b") == "mistral"
    assert bias.family_of("gemma-2-9b") == "google"
    assert bias.family_of("text_davinci_003") == "openai"
    assert bias.family_of("my-model") == ""


def test_bias_page_is_for_managers_and_escapes_names(project, manager_user, annotator_user):
    items = _pairs(project, 12)
    evil = cd.judge(project, '<script>alert(1)</script>')
    _label(items, evil, lambda it: 1)
    c = Client()
    c.force_login(annotator_user)
    assert c.get(f"/curation/p/{project.pk}/routing/bias/").status_code in (403, 404)
    c.force_login(manager_user)
    response = c.get(f"/curation/p/{project.pk}/routing/bias/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Length bias" in html
    # Cached until the labels change: a new judge's labels show on the next view.
    late = cd.judge(project, "late-judge")
    _label(items, late, lambda it: -1)
    assert "judge:late-judge" in c.get(f"/curation/p/{project.pk}/routing/bias/").content.decode()


def test_own_family_feature_feeds_the_router(project):
    from curation.features import judge_signals
    from curation.routing_sim import NUMERIC

    items = _pairs(project, 3)  # A: gpt-4o-mini, B: Llama
    own = cd.judge(project, "gpt-judge")
    own.judge.family = "openai"
    own.judge.save()
    other = cd.judge(project, "claude-judge")
    other.judge.family = "anthropic"
    other.judge.save()
    _label(items[:2], own, lambda it: -1)
    _label(items[1:], other, lambda it: 1)
    signals = judge_signals([it.pk for it in items])
    assert [signals[it.pk]["judge_own_family"] for it in items] == [1.0, 0.5, 0.0]
    assert "judge_own_family" in NUMERIC


def test_audit_has_a_row_per_preference_group(project):
    from curation.models import PreferenceGroupRun

    items = _pairs(project, 40)
    a, b = cd.person(project), cd.person(project)
    _label(items, a, lambda it: 2 if len(it.response_b.text) > len(it.response_a.text) else -2)
    _label(items, b, lambda it: -2 if len(it.response_b.text) > len(it.response_a.text) else 2)
    PreferenceGroupRun.objects.create(project=project, k=2, annotators=[
        {"annotator_id": a.pk, "name": a.name, "weights": [1.0, 0.0]},
        {"annotator_id": b.pk, "name": b.name, "weights": [0.0, 1.0]}])
    rows = {r.name: r for r in bias.audit(project).rows}
    assert rows["group 1"].kind == "group" and rows["group 1"].length.low > 0
    assert rows["group 2"].length.high < 0
    assert rows["people (all)"].length.low < 0 < rows["people (all)"].length.high
