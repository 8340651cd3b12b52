"""The judge-bias audit against planted biases: a judge that always picks the longer response, one
that always picks its own family's response, and people who pick at random."""

import random

import pytest
from django.test import Client
from django.urls import reverse

from annotate.content import prompt_hash
from annotate.models import Annotation, Item, Prompt, Response
from curation import bias, bias_store
from tests import curation_data as cd

pytestmark = pytest.mark.django_db


def _pairs(project, n, seed=0):
    """n pairwise items with random lengths; A from a GPT model, B from a Llama one."""
    rng = random.Random(seed)
    prompts = Prompt.objects.bulk_create(
        [Prompt(project=project, text=f"Q{i}", content_hash=prompt_hash(f"Q{i}", None)) for i in range(n)]
    )
    responses = Response.objects.bulk_create(
        [
            Response(prompt=p, text="word " * rng.randint(5, 300), model_name=name)
            for p in prompts
            for name in ("gpt-4o-mini", "meta-llama/Llama-3.1-8B")
        ]
    )
    return Item.objects.bulk_create(
        [
            Item(
                project=project, prompt=p, kind="pairwise", response_a=responses[2 * i], response_b=responses[2 * i + 1]
            )
            for i, p in enumerate(prompts)
        ]
    )


def _label(items, who, choose):
    Annotation.objects.bulk_create(
        [Annotation(item=it, annotator=who, kind="pairwise", preference=choose(it)) for it in items]
    )


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
    evil = cd.judge(project, "<script>alert(1)</script>")
    _label(items, evil, lambda it: 1)
    c = Client()
    c.force_login(annotator_user)
    assert c.get(reverse("curation:bias", args=[project.pk])).status_code in (403, 404)
    c.force_login(manager_user)
    bias_store.compute(project)  # what the worker does (tests/test_bias_runs.py runs it through the page)
    response = c.get(reverse("curation:bias", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Length bias" in html


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
    PreferenceGroupRun.objects.create(
        project=project,
        k=2,
        annotators=[
            {"annotator_id": a.pk, "name": a.name, "weights": [1.0, 0.0]},
            {"annotator_id": b.pk, "name": b.name, "weights": [0.0, 1.0]},
        ],
    )
    rows = {r.name: r for r in bias.audit(project).rows}
    assert rows["group 1"].kind == "group" and rows["group 1"].length.low > 0
    assert rows["group 2"].length.high < 0
    assert rows["people (all)"].length.low < 0 < rows["people (all)"].length.high


# --- the LM-tagged `errors` property ----------------------------------------------------------
from annotate.models import LMJudge  # noqa: E402
from curation.error_tags import parse_yes_no, tag_errors  # noqa: E402
from curation.models import ErrorTag  # noqa: E402
from tests.judging_helpers import ScriptedServer, allow_local_server, user_message  # noqa: E402
from workers.models import RunKind, TaskRun  # noqa: E402

WRONG = "So 2 + 2 = 5."


def _pairs_with_errors(project, n, seed=0):
    """n pairs; each response states a wrong sum with probability ½; lengths random."""
    rng = random.Random(seed)
    items = _pairs(project, n, seed)
    for it in items:
        for r in (it.response_a, it.response_b):
            if rng.random() < 0.5:
                r.text += WRONG
                r.save()
    return items


def _tagger(project, **params):
    j = LMJudge.objects.create(
        name="checker", backend="openai", model="m", parameters={"error_tagger": True, "max_retries": 0, **params}
    )
    j.projects.add(project)
    return j


def test_parse_yes_no():
    assert parse_yes_no("Yes, it says 2 + 2 = 5.") is True
    assert parse_yes_no("no errors here") is False
    assert parse_yes_no("The answer: NO.") is False
    assert parse_yes_no("I am not sure") is None
    assert parse_yes_no("") is None


def test_errors_property_is_tagged_in_a_worker_and_found_in_a_judge_that_avoids_errors(project, manager_user):
    items = _pairs_with_errors(project, 120)
    rng = random.Random(3)
    for _ in range(2):
        _label(items, cd.person(project), lambda it: rng.choice([-2, -1, 1, 2]))
    careful = cd.judge(project, "careful")  # picks the side without the error; a coin when both or neither

    def avoid(it):
        a, b = WRONG in it.response_a.text, WRONG in it.response_b.text
        return rng.choice([-1, 1]) if a == b else (2 if a else -2)

    _label(items, careful, avoid)

    c = Client()
    c.force_login(manager_user)
    result = bias.audit(project)
    assert "errors" not in result.properties and "no error tagger configured" in result.errors_note
    assert c.post(reverse("curation:run_error_tags", args=[project.pk])).status_code == 302
    assert not TaskRun.objects.filter(kind=RunKind.ERROR_TAGS).exists()

    def reply(body):
        text = user_message(body)
        if "Q7\n" in text:
            return 200, "Hard to say."  # neither yes nor no
        return 200, "Yes." if WRONG in text else "No, it is right."

    with ScriptedServer(reply) as server, allow_local_server:
        judge = _tagger(project)
        judge.base_url = server.base_url
        judge.save()
        bias_store.compute(project)  # the audit worker's service
        html = c.get(reverse("curation:bias", args=[project.pk])).content.decode()
        assert "errors: not computed" in html and "Tag errors with checker" in html
        assert "errors" not in bias.audit(project).properties
        assert c.post(reverse("curation:run_error_tags", args=[project.pk])).status_code == 302
        run = TaskRun.objects.get(kind=RunKind.ERROR_TAGS)
        assert run.state == "succeeded", run.error
        assert run.metrics["stored"] == 240 and run.metrics["unparsed"] == 2 and len(server.requests) == 240
        tags = {t.response_id: t.has_error for t in ErrorTag.objects.all()}
        for it in items:
            for r in (it.response_a, it.response_b):
                assert tags[r.pk] is (None if it.prompt.text == "Q7" else WRONG in r.text)
        again = tag_errors(project)  # everything tagged: nothing is asked twice
        assert again.asked == 0 and len(server.requests) == 240

    result = bias.audit(project)
    rows = {r.name: r for r in result.rows}
    assert "errors" in result.properties and "2 answers neither yes nor no" in result.errors_note
    errors = rows["judge:careful"].properties["errors"]
    assert errors.value < 0 and errors.high < 0  # B having the error lowers the odds of B winning
    assert rows["people (all)"].properties["errors"].low < 0 < rows["people (all)"].properties["errors"].high
    html = c.get(reverse("curation:bias", args=[project.pk])).content.decode()
    assert "audit-stale" in html and "<h3>errors</h3>" not in html  # tags arrived after the stored audit
    bias_store.compute(project)
    html = c.get(reverse("curation:bias", args=[project.pk])).content.decode()
    assert "errors tagged by checker" in html and "<h3>errors</h3>" in html and "audit-stale" not in html


def test_a_local_tiny_model_tags_through_the_generation_loop(project, tmp_path):
    """Plumbing with a tiny local causal LM: every response is asked once and its answer stored."""
    from workers.ml.tiny_models import build_tiny_causal_lm

    items = _pairs_with_errors(project, 4)
    path = build_tiny_causal_lm(tmp_path / "lm", extra_texts=["yes no"])
    judge = LMJudge.objects.create(
        name="tiny-checker",
        backend="transformers",
        model=path,
        parameters={"error_tagger": True, "max_new_tokens": 4, "batch_size": 4},
    )
    judge.projects.add(project)
    result = tag_errors(project)
    assert result.asked == 8 and result.stored == 8 and result.failed == 0
    tags = list(ErrorTag.objects.filter(tagger="tiny-checker"))
    assert {t.response_id for t in tags} == {r.pk for it in items for r in (it.response_a, it.response_b)}
    assert all(t.has_error is parse_yes_no(t.answer) for t in tags)
