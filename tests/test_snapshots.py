import pytest
from django.urls import reverse

from curation import actions
from curation.formats import iter_export_rows
from curation.models import ImmutableError, ItemNoise, NoiseRun, Snapshot
from curation.snapshots import compare, freeze_snapshot, manifest, new_labels_since_last_snapshot, split_of
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def test_freeze_copies_curated_rows_with_counts_and_hash(project, manager_user):
    cd.labelled_project(project, pairs=12, binaries=4, edits=3)
    snap = freeze_snapshot(project, manager_user, test_fraction=0.3)
    assert snap.version == 1 and snap.name == "v1" and len(snap.content_hash) == 64
    assert snap.counts["by_kind"] == {"pairwise": 12, "binary": 4, "edit": 3}
    assert snap.rows.count() == 19 == snap.counts["rows"]
    assert snap.counts["by_split"]["train"] + snap.counts["by_split"]["test"] == 19
    assert snap.counts["by_format"]["unpaired"]["train"] + snap.counts["by_format"]["unpaired"]["test"] == 4 + 2 * 15
    pair = snap.rows.filter(kind="pairwise").order_by("id").first().data
    # first item: both people prefer A (−2 and −1) → A chosen, margin 1.5
    assert pair["chosen"] == "Answer A0" and pair["rejected"] == "Answer B0"
    assert pair["margin"] == 1.5 and pair["preference"] == -2
    assert pair["rationales"] == ["reason 0-0", "reason 0-1"] and pair["sources"] == ["human"]
    edit = snap.rows.filter(kind="edit").first().data
    assert (
        edit["chosen"].startswith("The improved")
        and edit["rejected"].startswith("The draft")
        and edit["edit_distance"] > 0
    )
    binary = snap.rows.filter(kind="binary").order_by("id").first().data
    assert binary["label"] is False and binary["failed_principles"] == ["Be honest"]


def test_split_is_by_prompt_and_deterministic(project):
    people = [cd.person(project) for _ in range(2)]
    for i in range(40):
        p = factories.prompt(project, text=f"Shared prompt {i}")
        for k in range(3):  # three items on the same prompt
            item = factories.item(project, prompt_obj=p, text_a=f"a{i}{k}", text_b=f"b{i}{k}")
            cd.label(item, people[0], preference=1)
    snap = freeze_snapshot(project, test_fraction=0.25)
    splits = {}
    for prompt_hash, split in snap.rows.values_list("prompt_hash", "split"):
        splits.setdefault(prompt_hash, set()).add(split)
    assert all(len(s) == 1 for s in splits.values())
    assert {s for v in splits.values() for s in v} == {"train", "test"}
    assert all(split_of(h, 0.25) == next(iter(s)) for h, s in splits.items())
    again = freeze_snapshot(project, test_fraction=0.25)
    assert again.version == 2 and again.content_hash == snap.content_hash


def test_snapshot_never_changes_and_new_labels_go_to_next(project):
    people = cd.labelled_project(project, pairs=4, binaries=0, edits=0)
    snap = freeze_snapshot(project)
    before = list(snap.rows.order_by("id").values_list("data", flat=True))
    with pytest.raises(ImmutableError):
        snap.name = "changed"
        snap.save()
    row = snap.rows.first()
    with pytest.raises(ImmutableError):
        row.save()
    item = factories.item(project)
    cd.label(item, people[0], preference=3)
    assert new_labels_since_last_snapshot(project) == 1
    snap.refresh_from_db()
    assert list(snap.rows.order_by("id").values_list("data", flat=True)) == before
    nxt = freeze_snapshot(project)
    assert nxt.version == 2 and nxt.rows.count() == snap.rows.count() + 1 and nxt.content_hash != snap.content_hash
    diff = compare(nxt)
    assert diff is not None and diff.previous == snap and diff.items_added == 1 and diff.items_removed == 0
    assert diff.rows == {"pairwise": 1} and not diff.same_content and compare(snap) is None


def test_ties_are_not_pairs(project):
    who = cd.person(project)
    cd.label(factories.item(project), who, preference=0)
    cd.label(factories.item(project), who, preference=2)
    snap = freeze_snapshot(project)
    assert snap.counts["by_kind"] == {"pairwise": 1} and snap.counts["ties_excluded"] == 1


def test_judges_label_only_items_no_person_labelled(project):
    who, jury = cd.person(project), cd.judge(project)
    both = factories.item(project)
    cd.label(both, who, preference=-1)
    cd.label(both, jury, preference=3)
    judged = factories.item(project)
    cd.label(judged, jury, preference=2)
    snap = freeze_snapshot(project)
    rows = {r.item_id: r.data for r in snap.rows.all()}
    assert rows[both.pk]["chosen"] == "Answer A" and rows[both.pk]["sources"] == ["human"]
    assert rows[judged.pk]["chosen"] == "Answer B" and rows[judged.pk]["sources"] == ["judge"]


def test_actions_and_noise_are_honoured(project, manager_user):
    cd.labelled_project(project, pairs=6, binaries=0, edits=0)
    items = sorted(project.items.values_list("id", flat=True))
    run = NoiseRun.objects.create(project=project, method="test", epsilon=0.2, epsilon_low=0.1, epsilon_high=0.3)
    for i, item_id in enumerate(items):
        direction = -1 if i % 3 == 0 else 1
        ItemNoise.objects.create(
            item_id=item_id, run=run, p_wrong=0.9 if i == 1 else 0.1, label={"direction": direction}
        )
    actions.drop_items(project, manager_user, [items[0]], reason="bad prompt")
    actions.flip_items(project, manager_user, [items[1]])
    snap = freeze_snapshot(project, manager_user)
    rows = {r.item_id: r.data for r in snap.rows.all()}
    assert items[0] not in rows
    assert rows[items[1]]["chosen"] == "Answer A1" and rows[items[1]]["flipped"] is True
    assert rows[items[1]]["p_noise"] == pytest.approx(0.1)
    assert snap.epsilon == pytest.approx(0.1)
    assert snap.noise_summary["run"]["epsilon"] == 0.2
    m = manifest(snap)
    assert m["label_smoothing"] == snap.epsilon and m["actions_applied_upto"] is not None


def test_export_rows_in_every_format(project):
    cd.labelled_project(project, pairs=3, binaries=2, edits=1)
    snap = freeze_snapshot(project, test_fraction=0)
    pref = list(iter_export_rows(snap, "preference"))
    assert len(pref) == 4 and set(pref[0]) >= {
        "prompt",
        "chosen",
        "rejected",
        "margin",
        "rationale",
        "noise",
        "sources",
        "item_id",
    }
    conv = list(iter_export_rows(snap, "preference_conversational", chunk_size=1))
    assert conv[0]["prompt"] == [{"role": "user", "content": "Pair question 0?"}]
    assert conv[0]["chosen"][0]["role"] == "assistant"
    unpaired = list(iter_export_rows(snap, "unpaired", split="train"))
    assert len(unpaired) == 2 + 2 * 4 and {r["label"] for r in unpaired} == {True, False}
    assert len(list(iter_export_rows(snap, "edit"))) == 1
    assert list(iter_export_rows(snap, "preference", split="test")) == []


def test_versions_are_per_project(project):
    other = factories.project()
    cd.labelled_project(project, pairs=1, binaries=0, edits=0)
    cd.labelled_project(other, pairs=1, binaries=0, edits=0)
    assert freeze_snapshot(project).version == 1
    assert freeze_snapshot(other).version == 1
    assert Snapshot.objects.filter(project=project).count() == 1


def test_a_snapshot_with_no_rows_is_refused_and_nothing_is_written(project, manager_user, client):
    from curation.snapshots import EmptySnapshotError

    with pytest.raises(EmptySnapshotError, match="Nothing to freeze: the filters keep 0 items"):
        freeze_snapshot(project)
    tie = factories.item(project)
    cd.label(tie, cd.person(project), preference=0)
    with pytest.raises(EmptySnapshotError, match="keep 1 items, 1 of them ties"):
        freeze_snapshot(project)
    assert not Snapshot.objects.filter(project=project).exists()
    client.force_login(manager_user)
    resp = client.post(reverse("curation:freeze", args=[project.pk]), {"test_fraction": "0.1"})
    assert resp.status_code == 400 and "Nothing to freeze" in resp.content.decode()
    assert not Snapshot.objects.filter(project=project).exists()
    cd.labelled_project(project, pairs=1, binaries=0, edits=0)
    assert freeze_snapshot(project).version == 1  # the refused attempts used no version number


def test_epsilon_is_stored_per_feedback_kind(project):
    """Pairwise, binary and edit rows each get their own ε; edit-derived pairs never inherit the pairwise one."""
    cd.labelled_project(project, pairs=6, binaries=4, edits=2)
    run = NoiseRun.objects.create(project=project, method="test", epsilon=0.2, epsilon_low=0.1, epsilon_high=0.3)
    for item in project.items.all():
        if item.kind != "edit":
            ItemNoise.objects.create(
                item_id=item.pk, run=run, p_wrong=0.1 if item.kind == "pairwise" else 0.3, label={"direction": 1}
            )
    snap = freeze_snapshot(project)
    per_kind = snap.noise_summary["per_kind"]
    noise = {k: [r.data["p_noise"] for r in snap.rows.filter(kind=k)] for k in ("pairwise", "binary")}
    assert per_kind["pairwise"]["epsilon"] == pytest.approx(sum(noise["pairwise"]) / 6) == snap.epsilon
    assert per_kind["binary"]["epsilon"] == pytest.approx(sum(noise["binary"]) / 4) != snap.epsilon
    assert per_kind["binary"]["rows"] == 4
    assert per_kind["edit"]["epsilon"] is None and per_kind["edit"]["rows"] == 2
    assert "edit-derived pairs" in per_kind["edit"]["withheld"]


def test_edit_only_snapshot_does_not_take_the_runs_pairwise_epsilon(project):
    cd.labelled_project(project, pairs=0, binaries=0, edits=3)
    NoiseRun.objects.create(project=project, method="test", epsilon=0.2, epsilon_low=0.1, epsilon_high=0.3)
    snap = freeze_snapshot(project)
    assert snap.epsilon is None and snap.noise_summary["withheld"] == "the snapshot has no pairwise rows"
    assert snap.noise_summary["per_kind"]["edit"]["epsilon"] is None
