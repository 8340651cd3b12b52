from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.errors import Invalid
from annotate.models import Annotation
from tests import curation_data, factories
from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import latent_prefs
from workers.models import LatentPreference
from workers.tasks.edits import infer_preferences

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CONTEXTS = [
    "Write a python function that adds two numbers.",
    "Explain how to cook pasta for dinner.",
    "Write python code to reverse a list.",
    "What should I pack for a trip to Paris?",
]


def edits_by(project, who, contexts=CONTEXTS):
    out = []
    for text in contexts:
        item = factories.item(
            project,
            kind="edit",
            text_a=f"Long rambling answer about {text}",
            prompt_obj=factories.prompt(project, text=text),
        )
        out.append(curation_data.label(item, who, edited_text=f"Short answer: {text[:20]}"))
    return out


def test_inference_run_stores_one_preference_per_edit(project, tiny_model_dir):
    alice, bob = curation_data.person(project, "alice"), curation_data.person(project, "bob")
    edits_by(project, alice)
    edits_by(project, bob, CONTEXTS[:2])
    run = latent_prefs.start_inference_run(project, wh.model_spec(tiny_model_dir), batch_size=2, max_new_tokens=8)
    assert infer_preferences.delay(run.pk).get() == "succeeded"
    assert LatentPreference.objects.filter(annotator=alice).count() == 4
    assert LatentPreference.objects.filter(annotator=bob).count() == 2
    pref = LatentPreference.objects.filter(annotator=alice).first()
    assert len(pref.embedding) == 384 and pref.description and pref.run_id == run.pk
    # re-running finds nothing new
    again = latent_prefs.start_inference_run(project, wh.model_spec(tiny_model_dir))
    infer_preferences.delay(again.pk)
    assert LatentPreference.objects.count() == 6


def _store(project, who, context, text):
    item = factories.item(project, kind="edit", prompt_obj=factories.prompt(project, text=context))
    ann = curation_data.label(item, who, edited_text="x")
    return LatentPreference.objects.create(
        project=project,
        annotator=who,
        annotation=ann,
        context=context,
        description=text,
        embedding=latent_prefs.embed([context])[0].tolist(),
        model_name="m",
    )


def test_retrieval_aggregation_and_correction(project):
    alice, bob = curation_data.person(project, "alice"), curation_data.person(project, "bob")
    code = _store(project, alice, "Write a python function to sort numbers.", "prefers code with type hints")
    _store(project, alice, "Give me a recipe for tomato soup.", "prefers metric units in recipes")
    _store(project, bob, "Write a python function to parse JSON.", "prefers long explanations")
    got = latent_prefs.retrieve(alice, project, "Write python code that merges two lists.", k=1)
    assert [p for p, _ in got] == [code]  # nearest context, and never someone else's
    both = latent_prefs.retrieve(alice, project, "python function", k=5, min_similarity=-1)
    assert len(both) == 2 and both[0][1] >= both[1][1]
    assert latent_prefs.retrieve(alice, project, "the orbit of jupiter's moons") == []  # nothing similar enough
    assert latent_prefs.aggregate(got) == latent_prefs.Aggregation(
        "prefers code with type hints.", "single", "", (code.pk,)
    )
    joined = latent_prefs.aggregate(both)  # no model: the labelled fallback
    assert joined.method == "joined" and joined.model_name == "" and joined.text.count(";") == 1
    latent_prefs.correct(code, "prefers code with type hints and a docstring")
    assert (
        latent_prefs.instruction_for(alice, project, "python code please", k=1).text
        == "prefers code with type hints and a docstring."
    )
    with pytest.raises(Invalid):
        latent_prefs.correct(code, "x" * 1001)


def test_model_aggregation(project, tiny_model_dir):
    alice = curation_data.person(project, "alice")
    _store(project, alice, "Write a python function.", "prefers short code")
    _store(project, alice, "Write python code.", "prefers comments")
    spec = wh.model_spec(tiny_model_dir)
    got = latent_prefs.instruction_for(alice, project, "python", k=2, model_spec=spec)
    assert got.method == "model" and got.model_name == spec.name and got.text and len(got.sources) == 2
    assert got.text != "prefers short code; prefers comments."  # the model's reply, not the joined fallback
    # the configured generation model: none until a generation (or inference) run succeeded with one
    assert latent_prefs.generation_model(project) is None
    run = latent_prefs.start_inference_run(project, spec)
    infer_preferences.delay(run.pk)
    assert latent_prefs.generation_model(project) == spec


def _generated_edit_item(project, context, text, preference="", for_annotator=None):
    from annotate.models import Item, Response

    prompt = factories.prompt(project, text=context)
    meta = (
        {
            "preference": preference,
            "aggregated": "model",
            "aggregated_by": "m",
            "preference_annotator": for_annotator.pk,
        }
        if preference
        else {}
    )
    response = Response.objects.create(prompt=prompt, text=text, model_name="gen", metadata=meta)
    return Item.objects.create(project=project, prompt=prompt, kind="edit", response_a=response)


def test_accept_as_is_keeps_the_retrieved_preference(project, tiny_model_dir):
    """CIPHER's zero-cost branch: no new preference is inferred; the one retrieved is stored again."""
    alice = curation_data.person(project, "alice")
    _store(project, alice, "Write a python function to add numbers.", "prefers code with type hints")
    # accepted as is, response generated with alice's preference: that preference is kept
    generated = _generated_edit_item(
        project,
        "Write a python function to subtract.",
        "def sub(a: int, b: int) -> int: ...",
        "prefers typed python",
        alice,
    )
    kept_generated = curation_data.label(generated, alice, edited_text="def sub(a: int, b: int) -> int: ...")
    # accepted as is, imported response: what retrieval would have given then is kept
    plain = factories.item(
        project,
        kind="edit",
        text_a="def mul(a, b): return a * b",
        prompt_obj=factories.prompt(project, text="Write a python function to multiply."),
    )
    kept_retrieved = curation_data.label(plain, alice, edited_text="def mul(a, b): return a * b")
    # an edit with a cost: described by the model
    changed = factories.item(
        project, kind="edit", text_a="Long text about pasta", prompt_obj=factories.prompt(project, text="Cook pasta?")
    )
    edited = curation_data.label(changed, alice, edited_text="Boil water, add pasta.")
    assert kept_generated.edit_distance == 0 and edited.edit_distance > 0
    spec = wh.model_spec(tiny_model_dir)
    run = latent_prefs.start_inference_run(project, spec, max_new_tokens=6)
    assert infer_preferences.delay(run.pk).get() == "succeeded"
    run.refresh_from_db()
    assert run.metrics["kept"] == 2 and run.metrics["preferences"] == 3
    assert LatentPreference.objects.get(annotation=kept_generated).description == "prefers typed python"
    from_retrieval = LatentPreference.objects.get(annotation=kept_retrieved)
    assert from_retrieval.model_name == f"kept (model: {spec.name})" and from_retrieval.description
    expected = latent_prefs.aggregate(
        latent_prefs.retrieve(alice, project, plain.prompt.text, before=kept_retrieved.created_at), spec
    )
    assert from_retrieval.description == expected.text  # greedy: the same aggregation again
    assert LatentPreference.objects.get(annotation=edited).model_name == spec.name  # inferred, not kept


def test_accept_as_is_with_nothing_to_retrieve_keeps_no_preference(project, tiny_model_dir):
    alice = curation_data.person(project, "alice")
    item = factories.item(
        project, kind="edit", text_a="Fine as it is.", prompt_obj=factories.prompt(project, text="Say hi.")
    )
    ann = curation_data.label(item, alice, edited_text="Fine as it is.")
    run = latent_prefs.start_inference_run(project, wh.model_spec(tiny_model_dir))
    infer_preferences.delay(run.pk)
    pref = LatentPreference.objects.get(annotation=ann)
    assert pref.description == latent_prefs.NO_PREFERENCE
    assert latent_prefs.instruction_for(alice, project, "Say hi.").method == "none"  # never handed out as a preference


def test_retrieval_before_a_time_sees_only_earlier_edits(project):
    alice = curation_data.person(project, "alice")
    old = _store(project, alice, "Write a python function.", "prefers short code")
    Annotation.objects.filter(pk=old.annotation_id).update(created_at=timezone.now() - timedelta(days=2))
    _store(project, alice, "Write python code.", "prefers comments")
    cut = timezone.now() - timedelta(days=1)
    assert [p for p, _ in latent_prefs.retrieve(alice, project, "python", min_similarity=-1, before=cut)] == [old]
    assert len(latent_prefs.retrieve(alice, project, "python", min_similarity=-1)) == 2


def test_prelude_cost_with_and_without_preference(client, project):
    """PRELUDE's metric: cumulative edit cost per annotator, preference-conditioned versus not."""
    from workers import prelude_cost

    alice_user = factories.user("alice", project=project)
    alice = factories.human(alice_user)
    bob = curation_data.person(project, "bob")
    costs = []
    for i, (original, edit, conditioned) in enumerate(
        [
            ("a b c d", "a b c d", True),
            ("one two three four", "one two", True),
            ("w x y z", "totally different words here", False),
            ("p q r s", "p q r t", False),
        ]
    ):
        item = _generated_edit_item(
            project, f"Context {i}", original, "prefers <i>brevity</i>" if conditioned else "", alice
        )
        costs.append(curation_data.label(item, alice, edited_text=edit).edit_distance)
    other = _generated_edit_item(
        project, "Context for bob", "m n o p", "prefers <i>brevity</i>", alice
    )  # alice's preference
    curation_data.label(other, bob, edited_text="m n")
    by = prelude_cost.cost_by_annotator(project)
    assert by["alice"].conditioned.costs == costs[:2] and by["alice"].unconditioned.costs == costs[2:]
    assert by["alice"].conditioned.cumulative == [0.0, costs[1]] and by["alice"].unconditioned.cumulative[
        -1
    ] == pytest.approx(sum(costs[2:]))
    assert by["bob"].conditioned.costs == [] and len(by["bob"].unconditioned.costs) == 1  # conditioned on someone else
    client.force_login(alice_user)
    page = client.get(reverse("workers:latent_prefs", args=[project.pk])).content.decode()
    section = page[page.index('id="prelude-cost"') :]
    assert (
        'aria-label="cumulative edit distance"' in section
        and "with preference" in section
        and "without preference" in section
    )
    assert "<i>brevity</i>" not in page
    # beside the editor of a response generated with her preference: that (model-aggregated) preference, escaped
    first = Annotation.objects.filter(annotator=alice).order_by("id").first().item
    frag = client.get(
        reverse("workers:latent_prefs", args=[project.pk]) + f"?item={first.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "&lt;i&gt;brevity&lt;/i&gt;" in frag and "aggregated by m" in frag and "<i>brevity</i>" not in frag


def test_edit_distance_over_time(project):
    alice = curation_data.person(project, "alice")
    anns = edits_by(project, alice)
    Annotation.objects.filter(pk__in=[a.pk for a in anns[:2]]).update(created_at=timezone.now() - timedelta(days=3))
    series = latent_prefs.edit_distance_by_annotator(project)["alice"]
    assert len(series) == 2 and sum(n for _, _, n in series) == 4
    assert all(0 <= mean <= 1 for _, mean, _ in series)


def test_preferences_fragment_and_corrections(client, project):
    alice_user = factories.user("alice", project=project)
    alice = factories.human(alice_user)
    bob = curation_data.person(project, "bob")
    mine = _store(project, alice, "Write a python function to sort numbers.", "prefers <b>type hints</b>")
    theirs = _store(project, bob, "Write python code.", "prefers long text")
    client.force_login(alice_user)
    frag = client.get(
        reverse("workers:latent_prefs", args=[project.pk]) + "?context=python+sorting", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "For this prompt:" in frag and "&lt;b&gt;type hints&lt;/b&gt;" in frag and "long text" not in frag
    assert "<html" not in frag  # a fragment for the workspace
    page = client.get(reverse("workers:latent_prefs", args=[project.pk]))
    assert page.status_code == 200 and b"<html" in page.content
    resp = client.post(
        reverse("workers:correct_pref", args=[project.pk, mine.pk]),
        {"text": "prefers docstrings"},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 200 and b"prefers docstrings" in resp.content
    assert (
        client.post(reverse("workers:correct_pref", args=[project.pk, theirs.pk]), {"text": "hacked"}).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.corrected == ""
    other = factories.project()
    assert client.get(reverse("workers:latent_prefs", args=[other.pk])).status_code == 404


def test_curation_dashboard_tracks_edit_distance_per_annotator(client, project, manager_user):
    alice = curation_data.person(project, "alice")
    anns = edits_by(project, alice)
    Annotation.objects.filter(pk__in=[a.pk for a in anns[:2]]).update(created_at=timezone.now() - timedelta(days=3))
    client.force_login(manager_user)
    html = client.get(reverse("curation:figures", args=[project.pk])).content.decode()  # the dashboard's cached figures
    section = html[html.index('id="edit-distance"') :]
    assert "Mean edit distance per annotator" in section and "<td>alice</td>" in section
    assert 'aria-label="edit distance per day"' in section  # two days of edits: a curve


def test_kept_preference_is_aggregated_by_the_projects_generation_model(project, tiny_model_dir):
    from workers.models import RunKind, RunState, TaskRun

    alice = curation_data.person(project, "alice")
    _store(project, alice, "Write a python function to add numbers.", "prefers code with type hints")
    _store(project, alice, "Write python code to add lists.", "prefers docstrings")
    item = factories.item(
        project,
        kind="edit",
        text_a="def add(a, b): return a + b",
        prompt_obj=factories.prompt(project, text="Write a python function to add."),
    )
    ann = curation_data.label(item, alice, edited_text="def add(a, b): return a + b")
    generator, describer = wh.model_spec(tiny_model_dir), wh.model_spec(tiny_model_dir)
    TaskRun.objects.create(
        kind=RunKind.GENERATE, project=project, state=RunState.SUCCEEDED, params={"model_spec_id": generator.pk}
    )
    assert latent_prefs.generation_model(project) == generator
    run = latent_prefs.start_inference_run(project, describer)
    infer_preferences.delay(run.pk)
    assert LatentPreference.objects.get(annotation=ann).model_name == f"kept (model: {generator.name})"
