import json
import re
import uuid

import pytest

from annotate import queue
from annotate.models import Annotation, Assignment, Item
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_ann(client, annotator_user):
    client.force_login(annotator_user)
    return client


def _sid(html):
    return re.search(r'name="submission_id" value="([0-9a-f-]{36})"', html).group(1)


def test_home_lists_only_member_projects_with_progress(client_ann, project):
    hidden = factories.project(name="secret-project")
    factories.item(project)
    html = client_ann.get("/").content.decode()
    assert project.name in html and hidden.name not in html
    assert "Start annotating" in html


def test_project_page_renders_instructions_and_manager_links(client, project, manager_user, annotator_user):
    project.instructions = "# Guide\n\nPrefer **honest** answers."
    project.save()
    client.force_login(annotator_user)
    html = client.get(f"/p/{project.pk}/").content.decode()
    assert "<strong>honest</strong>" in html
    assert "/curation/p/" not in html
    client.force_login(manager_user)
    html = client.get(f"/p/{project.pk}/").content.decode()
    for href in (f"/curation/p/{project.pk}/routing/", f"/curation/p/{project.pk}/", f"/runs/p/{project.pk}/", f"/p/{project.pk}/gold/"):
        assert f'href="{href}"' in html


def test_non_member_gets_404(client, project):
    client.force_login(factories.user("outsider"))
    assert client.get(f"/p/{project.pk}/").status_code == 404
    assert client.get(f"/p/{project.pk}/annotate/").status_code == 404


def test_workspace_pairwise_submit_then_next_fragment(client_ann, project, annotator_user):
    first = factories.item(project, text_a="Left **bold**", text_b="Right")
    factories.item(project, kind="binary")
    html = client_ann.get(f"/p/{project.pk}/annotate/").content.decode()
    assert 'id="item-form"' in html and "Which response is better" in html
    lease = Assignment.objects.get(item=first)
    url = f"/p/{project.pk}/annotate/a/{lease.pk}/submit/"
    post = {"submission_id": _sid(html), "preference": "-3", "aspect:helpfulness:left": "5", "rationale": "clearer", "time_spent_ms": "1234"}
    resp = client_ann.post(url, post, HTTP_HX_REQUEST="true")
    body = resp.content.decode()
    assert resp.status_code == 200
    assert "Is this a good response?" in body  # next item (binary) swapped in
    assert 'hx-swap-oob="true"' in body  # progress refreshed
    annotation = Annotation.objects.get(item=first)
    assert annotation.preference == (3 if lease.swapped else -3)
    assert annotation.time_spent_ms == 1234
    # Retried request with the same submission id: still one annotation, no error shown.
    resp = client_ann.post(url, post, HTTP_HX_REQUEST="true")
    assert Annotation.objects.filter(item=first).count() == 1
    assert Item.objects.get(pk=first.pk).human_label_count == 1


def test_invalid_submit_rerenders_form_with_error_and_values(client_ann, project):
    factories.item(project, kind="binary")
    html = client_ann.get(f"/p/{project.pk}/annotate/").content.decode()
    lease = Assignment.objects.get()
    sid = _sid(html)
    resp = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", {"submission_id": sid, "reason": "kept text"})
    body = resp.content.decode()
    assert "choose thumbs up or thumbs down" in body
    assert "kept text" in body and sid in body  # same id, so the retry stays idempotent
    assert not Annotation.objects.exists()


def test_edit_submit_shows_diff_and_distance(client_ann, project):
    factories.item(project, kind="edit", text_a="The cat sat on the mat.")
    html = client_ann.get(f"/p/{project.pk}/annotate/").content.decode()
    lease = Assignment.objects.get()
    # the annotator's learned preferences load beside the editor (outside the item form: no nested forms)
    prefs = f'hx-get="/runs/prefs/{project.pk}/?item={lease.item_id}"'
    item_form_end = html.index("</form>", html.index('id="item-form"'))
    assert prefs in html and item_form_end < html.index(prefs)
    resp = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", {"submission_id": _sid(html), "edited_text": "The dog sat on the mat."})
    body = resp.content.decode()
    assert '<del class="diff-del">cat</del>' in body and '<ins class="diff-ins">dog</ins>' in body
    assert "0.17" in body


def test_skip_requires_reason_and_moves_on(client_ann, project):
    factories.item(project, kind="binary")
    client_ann.get(f"/p/{project.pk}/annotate/")
    lease = Assignment.objects.get()
    body = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/skip/", {"reason": ""}).content.decode()
    assert "say why" in body
    body = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/skip/", {"reason": "unclear"}).content.decode()
    assert "Nothing left for you" in body
    assert Assignment.objects.get().state == "skipped"


def test_draft_autosave_restored_on_return(client_ann, project):
    factories.item(project, kind="edit", text_a="Original answer text")
    client_ann.get(f"/p/{project.pk}/annotate/")
    lease = Assignment.objects.get()
    resp = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/draft/", {"edited_text": "Half-done <edit>"})
    assert resp.status_code == 204
    html = client_ann.get(f"/p/{project.pk}/annotate/").content.decode()
    assert "Half-done &lt;edit&gt;" in html


def test_someone_elses_assignment_is_404(client, project):
    factories.item(project, kind="binary")
    owner = factories.user("owner", project=project)
    lease = queue.next_assignment(project, queue.human_annotator(owner))
    client.force_login(factories.user("intruder", project=project))
    assert client.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", {"thumbs": "up"}).status_code == 404
    assert client.post(f"/api/annotate/a/{lease.pk}/submit/", "{}", content_type="application/json").status_code == 404


def test_gold_page_manager_only_marks_and_shows_accuracy(client, project, manager_user, annotator_user):
    item = factories.item(project)
    client.force_login(annotator_user)
    assert client.get(f"/p/{project.pk}/gold/").status_code == 403
    client.force_login(manager_user)
    resp = client.post(f"/p/{project.pk}/gold/{item.pk}/", {"action": "mark", "preference": "2"})
    assert resp.status_code == 302
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer == {"preference": 2}
    client.post(f"/p/{project.pk}/gold/rate/", {"gold_rate": "15"})
    project.refresh_from_db()
    assert project.gold_rate == pytest.approx(0.15)
    assert "Accuracy on gold" in client.get(f"/p/{project.pk}/gold/").content.decode()
    client.post(f"/p/{project.pk}/gold/{item.pk}/", {"action": "unmark"})
    item.refresh_from_db()
    assert not item.is_gold


def test_json_api_next_submit_skip(client_ann, project):
    factories.item(project, text_a="a", text_b="b")
    factories.item(project, kind="binary")
    nxt = client_ann.post(f"/api/annotate/p/{project.pk}/next/").json()
    assert nxt["kind"] == "pairwise" and {"left", "right"} <= nxt.keys()
    sid = str(uuid.uuid4())
    url = f"/api/annotate/a/{nxt['assignment']}/submit/"
    resp = client_ann.post(url, json.dumps({"submission_id": sid, "preference": 1}), content_type="application/json")
    assert resp.status_code == 201
    assert client_ann.post(url, json.dumps({"submission_id": sid, "preference": 1}), content_type="application/json").status_code == 200
    assert client_ann.post(url, json.dumps({"submission_id": sid, "preference": -1}), content_type="application/json").status_code == 409
    bad = client_ann.post(url, "not json", content_type="application/json")
    assert bad.status_code == 400
    nxt = client_ann.get(f"/api/annotate/p/{project.pk}/next/").json()
    assert nxt["kind"] == "binary"
    assert client_ann.post(f"/api/annotate/a/{nxt['assignment']}/skip/", json.dumps({"reason": "x"}), content_type="application/json").status_code == 200
    assert client_ann.get(f"/api/annotate/p/{project.pk}/next/").json()["done"] is True


def test_api_requires_login(client, project):
    assert client.get(f"/api/annotate/p/{project.pk}/next/").status_code == 401


def test_garbled_submission_id_gets_a_fresh_one(client_ann, project):
    factories.item(project, kind="binary")
    client_ann.get(f"/p/{project.pk}/annotate/")
    lease = Assignment.objects.get()
    body = client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", {"submission_id": "garbage", "thumbs": "up"}).content.decode()
    assert "submission id" in body
    sid = _sid(body)
    assert sid != "garbage"
    client_ann.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", {"submission_id": sid, "thumbs": "up"})
    assert Annotation.objects.get().submission_id == uuid.UUID(sid)


def test_api_hides_other_projects_and_revoked_membership(client, project):
    from annotate.models import Membership

    factories.item(project, kind="binary")
    outsider = factories.user("api-outsider")
    client.force_login(outsider)
    assert client.post(f"/api/annotate/p/{project.pk}/next/").status_code == 404
    member = factories.user("api-member", project=project)
    client.force_login(member)
    lease = client.post(f"/api/annotate/p/{project.pk}/next/").json()
    Membership.objects.filter(user=member).delete()
    body = json.dumps({"submission_id": str(uuid.uuid4()), "thumbs": "up"})
    assert client.post(f"/api/annotate/a/{lease['assignment']}/submit/", body, content_type="application/json").status_code == 404
    assert not Annotation.objects.exists()
