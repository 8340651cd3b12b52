from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Annotation
from tests import curation_data, factories
from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers import latent_prefs
from workers.models import LatentPreference
from workers.tasks.edits import infer_preferences

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CONTEXTS = ["Write a python function that adds two numbers.", "Explain how to cook pasta for dinner.",
            "Write python code to reverse a list.", "What should I pack for a trip to Paris?"]


def edits_by(project, who, contexts=CONTEXTS):
    out = []
    for text in contexts:
        item = factories.item(project, kind="edit", text_a=f"Long rambling answer about {text}",
                              prompt_obj=factories.prompt(project, text=text))
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
    return LatentPreference.objects.create(project=project, annotator=who, annotation=ann, context=context, description=text,
                                           embedding=latent_prefs.embed([context])[0].tolist(), model_name="m")


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
    assert latent_prefs.aggregate(got) == "prefers code with type hints."
    latent_prefs.correct(code, "prefers code with type hints and a docstring")
    assert latent_prefs.instruction_for(alice, project, "python code please", k=1) == "prefers code with type hints and a docstring."
    with pytest.raises(ValueError):
        latent_prefs.correct(code, "x" * 1001)


def test_model_aggregation(project, tiny_model_dir):
    alice = curation_data.person(project, "alice")
    _store(project, alice, "Write a python function.", "prefers short code")
    _store(project, alice, "Write python code.", "prefers comments")
    text = latent_prefs.instruction_for(alice, project, "python", k=2, model_spec=wh.model_spec(tiny_model_dir))
    assert isinstance(text, str) and text


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
    frag = client.get(f"/runs/prefs/{project.pk}/?context=python+sorting", HTTP_HX_REQUEST="true").content.decode()
    assert "For this prompt:" in frag and "&lt;b&gt;type hints&lt;/b&gt;" in frag and "long text" not in frag
    assert "<html" not in frag  # a fragment for the workspace
    page = client.get(f"/runs/prefs/{project.pk}/")
    assert page.status_code == 200 and b"<html" in page.content
    resp = client.post(f"/runs/prefs/{project.pk}/{mine.pk}/correct/", {"text": "prefers docstrings"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and b"prefers docstrings" in resp.content
    assert client.post(f"/runs/prefs/{project.pk}/{theirs.pk}/correct/", {"text": "hacked"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.corrected == ""
    other = factories.project()
    assert client.get(f"/runs/prefs/{other.pk}/").status_code == 404


def test_curation_dashboard_tracks_edit_distance_per_annotator(client, project, manager_user):
    alice = curation_data.person(project, "alice")
    anns = edits_by(project, alice)
    Annotation.objects.filter(pk__in=[a.pk for a in anns[:2]]).update(created_at=timezone.now() - timedelta(days=3))
    client.force_login(manager_user)
    html = client.get(f"/curation/p/{project.pk}/figures/").content.decode()  # the dashboard's cached figures
    section = html[html.index('id="edit-distance"'):]
    assert "Mean edit distance per annotator" in section and "<td>alice</td>" in section
    assert 'aria-label="edit distance per day"' in section  # two days of edits: a curve
