"""The record browser: the dashboard's items listed, searched, sorted and opened; bulk actions on
a selection."""

import pytest
from django.urls import reverse

from annotate.models import Annotation, Item
from curation import actions, records
from curation.models import CurationAction, ItemNoise, NoiseRun
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project):
    """Five pairs: people agree, people split, a judge only; noise on some; one with a telling text."""
    a, b, jury = cd.person(project), cd.person(project), cd.judge(project)
    items = []
    for i, (prefs, judge_pref) in enumerate([((3, 2), None), ((-2, 1), -1), ((), 1), ((1, 1), None), ((-3, -1), 2)]):
        item = factories.item(
            project, text_a=f"answer a{i}" + (" about octopus gardens" if i == 3 else ""), text_b=f"answer b{i}"
        )
        for who, pref in zip((a, b), prefs):
            cd.label(item, who, preference=pref)
        if judge_pref is not None:
            cd.label(item, jury, preference=judge_pref)
        items.append(item.pk)
    run = NoiseRun.objects.create(project=project, method="t", epsilon=0.2, epsilon_low=0.1, epsilon_high=0.3)
    for pk, p in zip(items, (0.05, 0.7, 0.3, 0.1, 0.5)):
        ItemNoise.objects.create(item_id=pk, run=run, p_wrong=p, label={}, signals={"dawid_skene": p})
    return items


def test_records_are_the_curated_view_searched_and_sorted(project, labelled):
    assert [r.item_id for r in records.find_records(project)] == labelled
    assert (
        len(records.find_records(project, {"max_noise": 0.4}))
        == len(actions.curated_view(project, {"max_noise": 0.4}))
        == 3
    )
    assert [r.item_id for r in records.find_records(project, query="OCTOPUS")] == [labelled[3]]
    by_noise = [r.item_id for r in records.find_records(project, sort="noise", descending=True)]
    assert by_noise == [labelled[1], labelled[4], labelled[2], labelled[3], labelled[0]]
    margins = [r.margin for r in records.find_records(project, sort="margin")]
    assert margins == sorted(margins)
    with pytest.raises(actions.CurationError, match="unknown sort"):
        records.find_records(project, sort="colour")


def test_records_page_paginates_and_escapes(project, labelled, manager_user, client, monkeypatch):
    from curation.views import records as views_records

    monkeypatch.setattr(views_records, "PAGE_SIZE", 2)
    Item.objects.filter(pk=labelled[0]).update(prompt=factories.prompt(project, text="<script>alert('p')</script>"))
    client.force_login(manager_user)
    url = reverse("curation:records", args=[project.pk])
    page = client.get(url, {"sort": "id"}).content.decode()
    assert (
        "5 curated items match" in page
        and "page 1 of 3" in page
        and f"#{labelled[0]}<" in page
        and f"#{labelled[2]}<" not in page
    )
    assert "<script>alert('p')</script>" not in page and "&lt;script&gt;" in page
    third = client.get(url, {"sort": "id", "page": 3}).content.decode()
    assert f"#{labelled[4]}<" in third and f"#{labelled[0]}<" not in third
    assert "1 curated item matches" in client.get(url, {"q": "octopus"}).content.decode()
    assert "max_noise" in client.get(url, {"max_noise": "lots"}).content.decode()


def test_bulk_actions(project, labelled, manager_user, client):
    client.force_login(manager_user)
    bulk = reverse("curation:records_bulk", args=[project.pk])
    client.post(bulk, {"action": "drop", "items": [labelled[0], labelled[1]]})
    act = CurationAction.objects.get()
    assert act.action == "drop" and act.item_ids == labelled[:2] and len(records.find_records(project)) == 3
    actions.undo(project, manager_user, act.pk)
    assert len(records.find_records(project)) == 5

    client.post(bulk, {"action": "gold", "items": [labelled[0], labelled[4]]})
    gold = dict(Item.objects.filter(is_gold=True).values_list("pk", "gold_answer"))
    assert gold == {labelled[0]: {"preference": 2}, labelled[4]: {"preference": -2}}  # people's label, not the judge's

    client.post(bulk, {"action": "people", "items": [labelled[2]]})
    assert Item.objects.get(pk=labelled[2]).routing == "human"

    foreign = factories.item(factories.project())
    client.post(bulk, {"action": "drop", "items": [labelled[3], foreign.pk]})
    assert CurationAction.objects.filter(action="drop").count() == 1  # nothing applied, nothing half-applied
    client.post(bulk, {"action": "explode", "items": [labelled[3]]})
    assert CurationAction.objects.count() == 2  # the drop and its undo


def test_rejudge_replaces_the_judges_labels_of_the_selection(project, labelled, manager_user, client):
    from workers.models import RunKind, TaskRun

    jury_label = Annotation.objects.get(item_id=labelled[2], annotator__kind="judge")
    with pytest.raises(actions.CurationError, match="select at least one"):
        records.bulk_action(project, manager_user, "rejudge", [])
    client.force_login(manager_user)
    client.post(reverse("curation:records_bulk", args=[project.pk]), {"action": "rejudge", "items": [labelled[2]]})
    assert not Annotation.objects.filter(pk=jury_label.pk).exists()
    assert Annotation.objects.filter(item_id=labelled[1], annotator__kind="judge").exists()  # other items untouched
    run = TaskRun.objects.get(project=project, kind=RunKind.JUDGE)
    assert run.params["item_ids"] == [labelled[2]]
    project.judges.clear()
    with pytest.raises(actions.CurationError, match="no judges"):
        records.bulk_action(project, manager_user, "rejudge", [labelled[1]])


def test_item_page_shows_noise_and_history(project, labelled, manager_user, client):
    actions.flip_items(project, manager_user, [labelled[1]])
    client.force_login(manager_user)
    page = client.get(reverse("curation:item", args=[project.pk, labelled[1]])).content.decode()
    assert "0.700" in page and "dawid_skene" in page and "flip" in page and "labelled (ok)" in page
