"""The `labels` export: one row per individual label, pseudonymous annotators."""

import io
import json

import pyarrow.parquet as pq
import pytest
from django.test import Client
from django.urls import reverse

from curation.formats import iter_jsonl
from curation.labels import pseudonym
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def test_one_row_per_label_with_pseudonymous_annotator_and_kind(project):
    alice, bob, jury = cd.person(project, "alice"), cd.person(project, "bob"), cd.judge(project)
    item = factories.item(project, text_a="short A", text_b="long B")
    cd.label(item, alice, preference=2)  # prefers B
    cd.label(item, bob, preference=-1)  # prefers A
    cd.label(item, jury, preference=3)  # prefers B
    snapshot = freeze_snapshot(project, test_fraction=0)
    rows = [json.loads(line) for line in b"".join(iter_jsonl(snapshot, "labels")).decode().splitlines()]
    assert len(rows) == 3 == snapshot.counts["by_format"]["labels"]["train"]
    # The people's mean (+0.5) makes B the chosen side; each label is oriented to it.
    assert {r["chosen"] for r in rows} == {
        " long B"
    }  # rendered as in the text formats: prompt + completion = transcript
    by = {r["annotator"]: r for r in rows}
    assert by[pseudonym(alice.pk)]["preference"] == 2 and by[pseudonym(alice.pk)]["annotator_kind"] == "human"
    assert by[pseudonym(bob.pk)]["preference"] == -1
    assert by[pseudonym(jury.pk)]["annotator_kind"] == "judge"
    text = json.dumps(rows)
    assert "alice" not in text and "bob" not in text  # no usernames leave the project
    assert pseudonym(alice.pk) == pseudonym(alice.pk) != pseudonym(bob.pk)


def test_labels_export_over_rest_in_jsonl_and_parquet(project, manager_user):
    who = cd.labelled_project(project, pairs=4, binaries=1, edits=0)
    snapshot = freeze_snapshot(project, test_fraction=0)
    c = Client()
    c.force_login(manager_user)
    response = c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=labels&engine=python")
    assert response.status_code == 200
    rows = [json.loads(x) for x in b"".join(response.streaming_content).decode().splitlines()]
    assert len(rows) == 4 * len(who)
    assert {r["annotator"] for r in rows} == {pseudonym(p.pk) for p in who}
    parquet = c.get(reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + "?format=labels&engine=python")
    table = pq.read_table(io.BytesIO(b"".join(parquet.streaming_content)))
    assert table.num_rows == len(rows) and "annotator_kind" in table.schema.names


def test_dashboard_links_the_labels_export(project, manager_user):
    cd.labelled_project(project, pairs=2, binaries=0, edits=0)
    snapshot = freeze_snapshot(project, test_fraction=0)
    c = Client()
    c.force_login(manager_user)
    html = c.get(reverse("curation:figures", args=[project.pk])).content.decode()  # the agreement and noise sections
    assert reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=labels" in html
    assert html.count("format=labels") >= 2  # agreement and noise sections
