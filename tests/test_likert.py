"""Likert ratings end to end: HelpSteer2 rows imported as human labels, a rating submitted through
the workspace, an LM judge's 0–4 JSON parsed into a label, ordinal α per aspect (checked against
krippendorff.alpha itself), gold within ±1, and SteerLM / regression export rows."""

import io
import json
import re

import krippendorff
import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from annotate.imports import ImportFileError, import_items
from annotate.judging import service
from annotate.kinds import registry
from annotate.kinds.likert import HELPSTEER2_ASPECTS, parse_likert
from annotate.models import Annotation, Annotator, AnnotatorKind, Assignment, LabelKind, LMJudge
from curation.agreement import project_agreement
from curation.formats import iter_export_rows, to_format, write_parquet
from curation.snapshots import freeze_snapshot
from tests import factories
from tests.import_files import write

pytestmark = pytest.mark.django_db
ASPECTS = list(HELPSTEER2_ASPECTS)


def likert_project(**fields):
    fields.setdefault("aspects", [])  # none configured: HelpSteer2's five
    return factories.project(feedback_kinds=["likert"], **fields)


def hs2_row(prompt, response, *ratings):
    return {"prompt": prompt, "response": response, **dict(zip(ASPECTS, ratings))}


def test_helpsteer2_rows_import_as_human_likert_labels(tmp_path):
    project = likert_project()
    rows = [hs2_row("What is 2+2?", "4.", 4, 4, 4, 0, 0), hs2_row("Name a prime.", "Nine.", 0, 0, 3, 0, 1)]
    result = import_items(project, write(tmp_path / "hs2.jsonl", rows), source="helpsteer2")
    assert result.shape == "helpsteer2_ratings" and result.kind == "likert" and result.label_kind == "human"
    source = Annotator.objects.get(project=project, name="helpsteer2")
    assert source.kind == AnnotatorKind.SOURCE and source.label_kind == LabelKind.HUMAN
    stored = {a.item.response_a.text: a.likert_ratings for a in Annotation.objects.select_related("item__response_a")}
    assert stored == {
        "4.": dict(zip(ASPECTS, (4, 4, 4, 0, 0))),
        "Nine.": dict(zip(ASPECTS, (0, 0, 3, 0, 1))),
    }
    assert all(a.item.kind == "likert" for a in Annotation.objects.all())


def test_helpsteer2_import_refuses_bad_ratings_and_unrated_aspects(tmp_path):
    project = likert_project()
    with pytest.raises(ImportFileError, match="whole number from 0 to 4"):
        import_items(project, write(tmp_path / "bad.jsonl", [hs2_row("p", "r", 5, 1, 1, 1, 1)]))
    narrow = likert_project(aspects=["helpfulness"])
    with pytest.raises(ImportFileError, match="does not rate: correctness"):
        import_items(narrow, write(tmp_path / "hs2.jsonl", [hs2_row("p", "r", 1, 1, 1, 1, 1)]))
    assert not Annotation.objects.exists()


def test_workspace_renders_rows_and_submits_ratings():
    project = likert_project()
    user = factories.user(project=project)
    item = factories.item(project, kind="likert", text_a="A <b>reply</b>")
    client = Client()
    client.force_login(user)
    html = client.get(f"/p/{project.pk}/annotate/").content.decode()
    for aspect in ASPECTS:
        assert f'name="likert:{aspect}" value="4"' in html
    assert html.count('role="radiogroup"') == len(ASPECTS) and "<b>reply</b>" not in html
    lease = Assignment.objects.get(item=item)
    sid = re.search(r'name="submission_id" value="([^"]+)"', html).group(1)
    url = f"/p/{project.pk}/annotate/a/{lease.pk}/submit/"
    partial = {"submission_id": sid, "likert:helpfulness": "3", "likert:correctness": "9"}
    body = client.post(url, partial).content.decode()
    assert "rate every aspect; missing: coherence" in body and "correctness must be a whole number 0-4" in body
    assert not Annotation.objects.exists()
    post = {"submission_id": sid, **{f"likert:{a}": str(n) for a, n in zip(ASPECTS, (3, 4, 4, 1, 2))}}
    assert client.post(url, post, HTTP_HX_REQUEST="true").status_code == 200
    assert Annotation.objects.get(item=item).likert_ratings == dict(zip(ASPECTS, (3, 4, 4, 1, 2)))


def test_unknown_aspect_is_refused_with_the_known_ones():
    project = likert_project(aspects=["clarity", "accuracy"])
    item = factories.item(project, kind="likert")
    errors: dict = {}
    spec = registry.get("likert")
    spec.clean(item, project, False, {"likert_ratings": {"clarity": 2, "accuracy": 3, "wit": 1}}, errors)
    assert errors["likert_ratings"] == "not aspects of this project: wit (its aspects: clarity, accuracy)"


def test_gold_per_aspect_within_one():
    project = likert_project()
    item = factories.item(project, kind="likert")
    spec = registry.get("likert")
    assert spec.clean_gold_answer(item, {"helpfulness": "3", "verbosity": 1}) == {"helpfulness": 3, "verbosity": 1}
    with pytest.raises(ValidationError, match="not aspects of this project: wit"):
        spec.clean_gold_answer(item, {"wit": 2})
    item.gold_answer = {"helpfulness": 3, "verbosity": 1}
    assert spec.gold_correct(item, {"likert_ratings": {"helpfulness": 4, "verbosity": 0}}) is True
    assert spec.gold_correct(item, {"likert_ratings": {"helpfulness": 1, "verbosity": 1}}) is False


def test_judge_prompt_and_reply_become_a_label():
    project = likert_project()
    item = factories.item(project, kind="likert", text_a="Paris is the capital of France.")
    judge = LMJudge.objects.create(name="likert-judge", backend="openai", model="m", base_url="http://127.0.0.1:9/v1")
    judge.projects.add(project)
    annotator = service.judge_annotator(judge)
    (request,) = service.requests_for(item, judge)
    user = request.messages[-1]["content"]
    assert "Paris is the capital" in user and all(f"- {a}" in user for a in ASPECTS) and "0-4" in user
    reply = 'Good answer.\n```json\n{"ratings": {"helpfulness": 4, "correctness": 4, "coherence": 4, '
    reply += '"complexity": 1, "verbosity": 1}, "rationale": "accurate and brief"}\n```'
    annotation = service.build_annotation(item, annotator, [reply])
    annotation.save()
    stored = Annotation.objects.get(pk=annotation.pk)
    assert stored.status == "ok" and stored.rationale == "accurate and brief"
    assert stored.likert_ratings == dict(zip(ASPECTS, (4, 4, 4, 1, 1)))
    # Missing or out-of-range ratings are never guessed.
    assert not parse_likert('{"ratings": {"helpfulness": 4}}', ASPECTS).ok
    assert not parse_likert(json.dumps({"ratings": dict.fromkeys(ASPECTS, 5)}), ASPECTS).ok
    bad = service.build_annotation(item, annotator, ['{"ratings": {"helpfulness": 2.5}}'])
    assert bad.status == "unparsed"


def test_ordinal_alpha_per_aspect_matches_krippendorff():
    project = likert_project(aspects=["helpfulness", "verbosity"])
    people = [factories.human(factories.user(project=project)) for _ in range(3)]
    helpfulness = [[4, 3, 0, 2], [4, 2, 1, 2], [3, 3, 0, np.nan]]  # coders × items
    verbosity = [[1, 4, 2, 0], [2, 4, 2, 1], [0, 3, 2, np.nan]]
    for j in range(4):
        item = factories.item(project, kind="likert", text_a=f"answer {j}")
        for i, person in enumerate(people):
            if not np.isnan(helpfulness[i][j]):
                ratings = {"helpfulness": int(helpfulness[i][j]), "verbosity": int(verbosity[i][j])}
                Annotation.objects.create(item=item, annotator=person, kind="likert", likert_ratings=ratings)
    likert = project_agreement(project)["likert"]
    for aspect, matrix in (("helpfulness", helpfulness), ("verbosity", verbosity)):
        expected = krippendorff.alpha(
            reliability_data=np.array(matrix), level_of_measurement="ordinal", value_domain=[0, 1, 2, 3, 4]
        )
        assert likert["by_suffix"][aspect]["alpha_ordinal"] == pytest.approx(expected)
        assert likert["by_suffix"][aspect]["items_with_overlap"] == 4
    assert likert["items"] == 4 and likert["alpha_ordinal"] is not None


def test_snapshot_exports_steerlm_and_regression_rows():
    project = likert_project()
    a, b = (factories.human(factories.user(project=project)) for _ in range(2))
    item = factories.item(project, kind="likert", text_a="Use a hash map.")
    Annotation.objects.create(item=item, annotator=a, kind="likert", likert_ratings=dict(zip(ASPECTS, (4, 3, 4, 2, 1))))
    Annotation.objects.create(item=item, annotator=b, kind="likert", likert_ratings=dict(zip(ASPECTS, (3, 3, 4, 1, 1))))
    snapshot = freeze_snapshot(project, test_fraction=0)
    (steer,) = list(iter_export_rows(snapshot, "attributes"))
    assert steer["completion"] == " Use a hash map." and "Human:" in steer["prompt"]
    assert steer["attributes"] == dict(zip(ASPECTS, (4, 3, 4, 2, 1)))  # means 3.5 and 1.5 round half up
    assert steer["attribute_string"] == "helpfulness:4,correctness:3,coherence:4,complexity:2,verbosity:1"
    (reg,) = list(iter_export_rows(snapshot, "regression"))
    assert reg["aspects"] == ASPECTS and reg["targets"] == [3.5, 3.0, 4.0, 1.5, 1.0]
    # Likert rows are in no pairwise or unpaired format.
    assert list(iter_export_rows(snapshot, "preference")) == [] and list(iter_export_rows(snapshot, "unpaired")) == []
    assert list(to_format("pairwise", {}, "attributes")) == []
    # Parquet too, in the kind's declared column types.
    steer_pq = pq.read_table(write_parquet(snapshot, "attributes", io.BytesIO()))
    assert steer_pq.column("attribute_string").to_pylist() == [steer["attribute_string"]]
    assert dict(steer_pq.column("attributes").to_pylist()[0]) == steer["attributes"]
    reg_pq = pq.read_table(write_parquet(snapshot, "regression", io.BytesIO()))
    assert reg_pq.column("targets").to_pylist() == [reg["targets"]]


def test_gold_page_marks_a_likert_item():
    project = likert_project()
    manager = factories.user(project=project, role="manager")
    item = factories.item(project, kind="likert")
    client = Client()
    client.force_login(manager)
    html = client.get(f"/p/{project.pk}/gold/").content.decode()
    assert all(f'name="likert:{a}"' in html for a in ASPECTS)
    client.post(f"/p/{project.pk}/gold/{item.pk}/", {"likert:helpfulness": "3", "likert:verbosity": ""})
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer == {"helpfulness": 3}
