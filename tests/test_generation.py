import pytest
from django.urls import reverse

from annotate import queue
from annotate.errors import Invalid
from annotate.models import Item, Response
from tests import curation_data, factories
from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import generation
from workers.models import LatentPreference
from workers.tasks.generation import generate_candidates

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def prompts_with_responses(project, n=3):
    out = []
    for i in range(n):
        p = factories.prompt(project, text=f"Tell me fact number {i}.")
        Response.objects.create(prompt=p, text=f"Fact {i} from the dataset.", model_name="dataset")
        out.append(p)
    return out


def test_generated_pairs_reach_the_queue(project, tiny_model_dir, annotator_user):
    prompts = prompts_with_responses(project)
    bare = factories.prompt(project, text="A prompt without any response.")
    spec = wh.model_spec(tiny_model_dir)
    run = generation.start_generation_run(project, spec, n=2, item_kind="pairwise", max_new_tokens=8, batch_size=4)
    assert generate_candidates.delay(run.pk).get() == "succeeded"
    run.refresh_from_db()
    assert run.metrics["responses"] == 8 and run.metrics["created"] == 8 and run.progress == run.total == 4
    items = Item.objects.filter(metadata__generated_by_run=run.pk)
    pairs = items.filter(kind="pairwise")
    assert pairs.count() == 6 and all(i.response_b.model_name == "dataset" for i in pairs)
    assert set(pairs.values_list("prompt_id", flat=True)) == {p.pk for p in prompts}
    assert items.filter(kind="binary", prompt=bare).count() == 2  # nothing to pair with
    assert all(i.response_a.model_name == spec.name for i in items)
    # the queue hands the new items out
    assignment = queue.next_assignment(project, queue.human_annotator(annotator_user))
    assert assignment is not None and assignment.item.metadata.get("generated_by_run") == run.pk
    # re-running the same run (a takeover) writes nothing twice
    generation.generate_candidates(run)
    assert Item.objects.filter(metadata__generated_by_run=run.pk).count() == 8


def test_edit_items_and_latent_preference_instruction(project, tiny_model_dir):
    prompts_with_responses(project, 2)
    alice = curation_data.person(project, "alice")
    item = factories.item(project, kind="edit", prompt_obj=factories.prompt(project, text="Tell me a fact."))
    ann = curation_data.label(item, alice, edited_text="Short fact.")
    from workers.latent_prefs import embed

    LatentPreference.objects.create(
        project=project,
        annotator=alice,
        annotation=ann,
        context="Tell me a fact.",
        description="prefers one-sentence answers",
        embedding=embed(["Tell me a fact."])[0].tolist(),
        model_name="m",
    )
    run = generation.start_generation_run(
        project,
        wh.model_spec(tiny_model_dir),
        item_kind="edit",
        max_new_tokens=6,
        instruction="Be brief.",
        preference_annotator=alice,
        prompt_ids=[p.pk for p in project.prompts.filter(text__startswith="Tell me fact")],
    )
    generate_candidates.delay(run.pk)
    responses = Response.objects.filter(metadata__run=run.pk)
    assert responses.count() == 2
    spec_name = responses[0].model_name  # the run's model
    for r in responses:  # aggregated by the run's own model (CIPHER), and recorded
        assert r.metadata["instruction"] == "Be brief." and r.metadata["preference_annotator"] == alice.pk
        assert (
            r.metadata["aggregated"] == "model"
            and r.metadata["aggregated_by"] == spec_name
            and r.metadata["preference"]
        )
    assert Item.objects.filter(metadata__generated_by_run=run.pk, kind="edit").count() == 2


def test_generated_text_changes_with_the_preference(project, tiny_model_dir):
    """Greedy decoding, two preferences: the prompt the model reads holds each, and the outputs differ."""
    from workers.ml.loading import chat_prompt, generate, load_tokenizer

    spec = wh.model_spec(tiny_model_dir)
    prompt = factories.prompt(project, text="Tell me about python code.")
    first, second = "prefers answers about cooking and travel", "prefers the number 3 and the verdict -3"
    convs = [
        generation.conversation(prompt, "", first),
        generation.conversation(prompt, "", second),
        generation.conversation(prompt, ""),
    ]
    tokenizer = load_tokenizer(spec)
    rendered = [chat_prompt(tokenizer, c) for c in convs]
    assert first in rendered[0] and second in rendered[1] and "preference" not in rendered[2]
    assert generation.PREFERENCE_TEMPLATE.format(preference=first) in rendered[0]
    out = generate(spec, convs, max_new_tokens=16, temperature=0)
    assert generate(spec, convs, max_new_tokens=16, temperature=0) == out  # greedy: deterministic
    assert out[0] != out[1] and out[0] != out[2]
    # end to end: two annotators' preferences condition two generation runs differently
    alice, bob = curation_data.person(project, "alice"), curation_data.person(project, "bob")
    from workers.latent_prefs import embed

    for who, text in ((alice, first), (bob, second)):
        item = factories.item(
            project, kind="edit", prompt_obj=factories.prompt(project, text="Tell me about python functions.")
        )
        ann = curation_data.label(item, who, edited_text="edited")
        LatentPreference.objects.create(
            project=project,
            annotator=who,
            annotation=ann,
            context=item.prompt.text,
            description=text,
            embedding=embed([item.prompt.text])[0].tolist(),
            model_name="m",
        )
    texts = {}
    for who in (alice, bob):
        run = generation.start_generation_run(
            project,
            spec,
            prompt_ids=[prompt.pk],
            item_kind="edit",
            max_new_tokens=16,
            temperature=0,
            preference_annotator=who,
        )
        generate_candidates.delay(run.pk)
        r = Response.objects.get(metadata__run=run.pk)
        texts[who.name] = (r.metadata["preference"], r.text)
    assert texts["alice"][0] != texts["bob"][0] and texts["alice"][1] != texts["bob"][1]


def test_conversation_and_bad_input(project, tmp_path):
    p = factories.prompt(
        project, text="hi", messages=[{"role": "system", "content": "old"}, {"role": "user", "content": "hi"}]
    )
    conv = generation.conversation(p, "new rule")
    assert conv == [{"role": "system", "content": "new rule"}, {"role": "user", "content": "hi"}]
    with_pref = generation.conversation(p, "new rule", "prefers haiku")
    assert with_pref[0] == {
        "role": "system",
        "content": "new rule This user has the following preference: prefers haiku Write your answer to follow it.",
    }
    spec = wh.model_spec(tmp_path)
    with pytest.raises(Invalid, match="item kind"):  # a refusal the page shows as a 400 (annotate.errors)
        generation.start_generation_run(project, spec, item_kind="ranking")
    with pytest.raises(Invalid, match="no prompts"):
        generation.start_generation_run(factories.project(), spec)


def test_generation_form(client, project, manager_user, tiny_model_dir):
    prompts_with_responses(project, 1)
    spec = wh.model_spec(tiny_model_dir)
    client.force_login(manager_user)
    resp = client.post(
        reverse("workers:start_generation", args=[project.pk]),
        {
            "model_spec": spec.pk,
            "item_kind": "binary",
            "n": 1,
            "max_new_tokens": 8,
            "temperature": 0,
            "instruction": "",
        },
    )
    assert resp.status_code == 302
    assert Item.objects.filter(kind="binary", metadata__generated_by_run__isnull=False).count() == 1


def test_model_text_with_a_nul_character_is_storable():
    """A model (a tiny random one especially) can emit NUL, which PostgreSQL's text and JSONB refuse:
    generated text is stored without it."""
    from workers.ml.loading import storable

    assert storable("a\x00b\x00") == "ab" and storable("") == "" and storable(None) is None
