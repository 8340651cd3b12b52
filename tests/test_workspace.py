import json
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

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
    html = client.get(reverse("annotate:project", args=[project.pk])).content.decode()
    assert "<strong>honest</strong>" in html
    assert reverse("curation:dashboard", args=[project.pk]) not in html
    client.force_login(manager_user)
    html = client.get(reverse("annotate:project", args=[project.pk])).content.decode()
    for href in (
        reverse("curation:routing", args=[project.pk]),
        reverse("curation:dashboard", args=[project.pk]),
        reverse("workers:project_runs", args=[project.pk]),
        reverse("annotate:gold", args=[project.pk]),
    ):
        assert f'href="{href}"' in html


def test_non_member_gets_404(client, project):
    client.force_login(factories.user("outsider"))
    assert client.get(reverse("annotate:project", args=[project.pk])).status_code == 404
    assert client.get(reverse("annotate:workspace", args=[project.pk])).status_code == 404


def test_workspace_pairwise_submit_then_next_fragment(client_ann, project, annotator_user):
    first = factories.item(project, text_a="Left **bold**", text_b="Right")
    factories.item(project, kind="binary")
    html = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    assert 'id="item-form"' in html and "Which response is better" in html
    lease = Assignment.objects.get(item=first)
    url = reverse("annotate:submit_item", args=[project.pk, lease.pk])
    post = {
        "submission_id": _sid(html),
        "preference": "-3",
        "aspect:helpfulness:left": "5",
        "rationale": "clearer",
        "time_spent_ms": "1234",
    }
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
    html = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    lease = Assignment.objects.get()
    sid = _sid(html)
    resp = client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"submission_id": sid, "reason": "kept text"}
    )
    body = resp.content.decode()
    assert "choose thumbs up or thumbs down" in body
    assert "kept text" in body and sid in body  # same id, so the retry stays idempotent
    assert not Annotation.objects.exists()


def test_edit_submit_shows_diff_and_distance(client_ann, project):
    factories.item(project, kind="edit", text_a="The cat sat on the mat.")
    html = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    lease = Assignment.objects.get()
    # the annotator's learned preferences load beside the editor (outside the item form: no nested forms)
    prefs = f'hx-get="{reverse("workers:latent_prefs", args=[project.pk])}?item={lease.item_id}"'
    item_form_end = html.index("</form>", html.index('id="item-form"'))
    assert prefs in html and item_form_end < html.index(prefs)
    resp = client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": _sid(html), "edited_text": "The dog sat on the mat."},
    )
    body = resp.content.decode()
    assert '<del class="diff-del">cat</del>' in body and '<ins class="diff-ins">dog</ins>' in body
    assert "0.17" in body


def test_skip_requires_reason_and_moves_on(client_ann, project):
    factories.item(project, kind="binary")
    client_ann.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    body = client_ann.post(reverse("annotate:skip_item", args=[project.pk, lease.pk]), {"reason": ""}).content.decode()
    assert "say why" in body
    body = client_ann.post(
        reverse("annotate:skip_item", args=[project.pk, lease.pk]), {"reason": "unclear"}
    ).content.decode()
    assert "Nothing left for you" in body
    assert Assignment.objects.get().state == "skipped"


def test_draft_autosave_restored_on_return(client_ann, project):
    factories.item(project, kind="edit", text_a="Original answer text")
    client_ann.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    resp = client_ann.post(
        reverse("annotate:save_draft", args=[project.pk, lease.pk]), {"edited_text": "Half-done <edit>"}
    )
    assert resp.status_code == 204
    html = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    assert "Half-done &lt;edit&gt;" in html


def test_someone_elses_assignment_is_404(client, project):
    factories.item(project, kind="binary")
    owner = factories.user("owner", project=project)
    lease = queue.next_assignment(project, queue.human_annotator(owner))
    client.force_login(factories.user("intruder", project=project))
    assert (
        client.post(reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"thumbs": "up"}).status_code == 404
    )
    assert (
        client.post(reverse("annotate_api:submit", args=[lease.pk]), "{}", content_type="application/json").status_code
        == 404
    )


def test_gold_page_manager_only_marks_and_shows_accuracy(client, project, manager_user, annotator_user):
    item = factories.item(project)
    client.force_login(annotator_user)
    assert client.get(reverse("annotate:gold", args=[project.pk])).status_code == 403
    client.force_login(manager_user)
    resp = client.post(reverse("annotate:gold_mark", args=[project.pk, item.pk]), {"action": "mark", "preference": "2"})
    assert resp.status_code == 302
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer == {"preference": 2}
    client.post(reverse("annotate:gold_rate", args=[project.pk]), {"gold_rate": "15"})
    project.refresh_from_db()
    assert project.gold_rate == pytest.approx(0.15)
    for bad in ("150", "lots", "nan", ""):  # refused with a message; the rate stays
        client.post(reverse("annotate:gold_rate", args=[project.pk]), {"gold_rate": bad})
        project.refresh_from_db()
        assert project.gold_rate == pytest.approx(0.15), bad
    assert "Accuracy on gold" in client.get(reverse("annotate:gold", args=[project.pk])).content.decode()
    client.post(reverse("annotate:gold_mark", args=[project.pk, item.pk]), {"action": "unmark"})
    item.refresh_from_db()
    assert not item.is_gold


def test_json_api_next_submit_skip(client_ann, project):
    factories.item(project, text_a="a", text_b="b")
    factories.item(project, kind="binary")
    nxt = client_ann.post(reverse("annotate_api:next", args=[project.pk])).json()
    assert nxt["kind"] == "pairwise" and {"left", "right"} <= nxt.keys()
    sid = str(uuid.uuid4())
    url = reverse("annotate_api:submit", args=[nxt["assignment"]])
    resp = client_ann.post(url, json.dumps({"submission_id": sid, "preference": 1}), content_type="application/json")
    assert resp.status_code == 201
    assert (
        client_ann.post(
            url, json.dumps({"submission_id": sid, "preference": 1}), content_type="application/json"
        ).status_code
        == 200
    )
    assert (
        client_ann.post(
            url, json.dumps({"submission_id": sid, "preference": -1}), content_type="application/json"
        ).status_code
        == 409
    )
    bad = client_ann.post(url, "not json", content_type="application/json")
    assert bad.status_code == 400
    nxt = client_ann.get(reverse("annotate_api:next", args=[project.pk])).json()
    assert nxt["kind"] == "binary"
    assert (
        client_ann.post(
            reverse("annotate_api:skip", args=[nxt["assignment"]]),
            json.dumps({"reason": "x"}),
            content_type="application/json",
        ).status_code
        == 200
    )
    assert client_ann.get(reverse("annotate_api:next", args=[project.pk])).json()["done"] is True


def test_api_requires_login(client, project):
    assert client.get(reverse("annotate_api:next", args=[project.pk])).status_code == 401


def test_garbled_submission_id_gets_a_fresh_one(client_ann, project):
    factories.item(project, kind="binary")
    client_ann.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    body = client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"submission_id": "garbage", "thumbs": "up"}
    ).content.decode()
    assert "submission id" in body
    sid = _sid(body)
    assert sid != "garbage"
    client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"submission_id": sid, "thumbs": "up"}
    )
    assert Annotation.objects.get().submission_id == uuid.UUID(sid)


def test_api_hides_other_projects_and_revoked_membership(client, project):
    from annotate.models import Membership

    factories.item(project, kind="binary")
    outsider = factories.user("api-outsider")
    client.force_login(outsider)
    assert client.post(reverse("annotate_api:next", args=[project.pk])).status_code == 404
    member = factories.user("api-member", project=project)
    client.force_login(member)
    lease = client.post(reverse("annotate_api:next", args=[project.pk])).json()
    Membership.objects.filter(user=member).delete()
    body = json.dumps({"submission_id": str(uuid.uuid4()), "thumbs": "up"})
    assert (
        client.post(
            reverse("annotate_api:submit", args=[lease["assignment"]]), body, content_type="application/json"
        ).status_code
        == 404
    )
    assert not Annotation.objects.exists()


def _lease_and_sid(client, project):
    html = client.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    return Assignment.objects.filter(state="leased").latest("id"), _sid(html), html


def test_workspace_shows_sanitised_guidelines_and_kind_guidance(client_ann, project):
    project.instructions = "Prefer **honest** answers.<script>alert(1)</script>"
    project.feedback_kinds = ["pairwise", "edit"]
    project.save()
    factories.item(project)
    html = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    panel = html[html.index('id="guidelines"') : html.index('id="work"')]
    assert "<strong>honest</strong>" in panel and "<script>" not in panel
    assert 'data-kind="pairwise"' in panel and 'data-kind="edit"' in panel and 'data-kind="binary"' not in panel
    assert "Accept as is" in panel


def test_unchanged_edit_is_refused_but_accept_as_is_stores_a_zero_distance_edit(client_ann, project):
    item = factories.item(project, kind="edit", text_a="The cat sat on the mat.  ")
    lease, sid, html = _lease_and_sid(client_ann, project)
    assert 'name="accept_as_is" value="1"' in html
    url = reverse("annotate:submit_item", args=[project.pk, lease.pk])
    body = client_ann.post(url, {"submission_id": sid, "edited_text": "The cat sat on the mat."}).content.decode()
    assert "Accept as is" in body and not Annotation.objects.exists()
    # accepting ignores whatever the editor holds: the verdict is "no change"
    body = client_ann.post(
        url, {"submission_id": sid, "edited_text": "half-typed", "accept_as_is": "1"}
    ).content.decode()
    assert 'id="edit-result"' in body
    label = Annotation.objects.get(item=item)
    assert label.edited_text == item.response_a.text and label.edit_distance == 0.0
    assert [op for op, *_ in label.diff] == ["equal"]
    # a retry of the same request is the same label, not a second one
    client_ann.post(url, {"submission_id": sid, "edited_text": "half-typed", "accept_as_is": "1"})
    assert Annotation.objects.count() == 1


def test_accept_as_is_through_the_json_api(client_ann, project, annotator_user):
    factories.item(project, kind="edit", text_a="Fine as it is.")
    lease = queue.next_assignment(project, queue.human_annotator(annotator_user))
    resp = client_ann.post(
        reverse("annotate_api:submit", args=[lease.pk]),
        json.dumps({"submission_id": str(uuid.uuid4()), "accept_as_is": True}),
        content_type="application/json",
    )
    assert resp.status_code in (200, 201), resp.content
    assert Annotation.objects.get().edit_distance == 0.0


@pytest.mark.parametrize("swapped", [False, True])
def test_gold_feedback_after_a_gold_item_in_display_order(client_ann, project, swapped):
    project.gold_feedback = True
    project.gold_rate = 1.0
    project.save()
    factories.item(project, is_gold=True, gold_answer={"preference": -2})  # A (canonical) better
    factories.item(project)
    lease, sid, _ = _lease_and_sid(client_ann, project)
    Assignment.objects.filter(pk=lease.pk).update(swapped=swapped)
    shown_a_better = "-1"  # the annotator picks the left one
    body = client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": sid, "preference": shown_a_better},
    ).content.decode()
    if swapped:  # canonical A was on the right: the left pick misses, and the answer reads "B better"
        assert "You did not match the gold answer" in body and "<strong>B better</strong>" in body
    else:
        assert "You matched the gold answer" in body and "<strong>A better</strong>" in body


def test_no_gold_feedback_unless_the_project_turns_it_on(client_ann, project):
    project.gold_rate = 1.0
    project.save()
    factories.item(project, kind="binary", is_gold=True, gold_answer={"thumbs": "down"})
    lease, sid, html = _lease_and_sid(client_ann, project)
    assert 'class="badge gold"' not in html  # nothing tells the annotator it is gold
    body = client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"submission_id": sid, "thumbs": "up"}
    ).content.decode()
    assert "gold answer" not in body
    assert Annotation.objects.get().details["gold_correct"] is False


def test_gold_answer_select_has_no_default_and_feedback_is_a_setting(client, project, manager_user):
    item = factories.item(project, kind="binary")
    client.force_login(manager_user)
    html = client.get(reverse("annotate:gold", args=[project.pk])).content.decode()
    select = html[html.index(f'aria-label="Gold thumbs for item {item.pk}"') :]
    select = select[: select.index("</select>")]
    assert (
        '<option value="" selected>' in select
        and "required" in html[html.index(f'aria-label="Gold thumbs for item {item.pk}"') - 40 :][:60]
    )
    # submitting the empty choice marks nothing
    client.post(reverse("annotate:gold_mark", args=[project.pk, item.pk]), {"action": "mark", "thumbs": ""})
    item.refresh_from_db()
    assert not item.is_gold
    client.post(reverse("annotate:gold_feedback", args=[project.pk]), {"gold_feedback": "1"})
    project.refresh_from_db()
    assert project.gold_feedback is True
    client.post(reverse("annotate:gold_feedback", args=[project.pk]), {})
    project.refresh_from_db()
    assert project.gold_feedback is False


def test_gold_feedback_setting_is_for_managers_only(client_ann, project):
    assert client_ann.post(
        reverse("annotate:gold_feedback", args=[project.pk]), {"gold_feedback": "1"}
    ).status_code in (403, 404)
    project.refresh_from_db()
    assert project.gold_feedback is False


def test_recent_items_amend_the_same_label_while_the_lease_holds(client_ann, project):
    first = factories.item(project, kind="binary", text_a="First")
    factories.item(project, kind="binary", text_a="Second")
    lease, sid, _ = _lease_and_sid(client_ann, project)
    client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": sid, "thumbs": "up", "reason": "ok"},
    )
    original = Annotation.objects.get()

    recent = client_ann.get(reverse("annotate:recent_items", args=[project.pk])).content.decode()
    assert f"#{first.pk}" in recent and "Thumbs up" in recent and f"/annotate/a/{lease.pk}/amend/" in recent

    form = client_ann.get(reverse("annotate:amend_item", args=[project.pk, lease.pk])).content.decode()
    assert 'class="item kind-binary amending"' in form and 'value="up" checked' in form and ">ok</textarea>" in form
    body = client_ann.post(
        reverse("annotate:amend_item", args=[project.pk, lease.pk]), {"thumbs": "down", "reason": "wrong after all"}
    ).content.decode()
    assert f"Your label on item #{first.pk} was changed." in body
    label = Annotation.objects.get()  # still one label, the same row and submission id
    assert (label.pk, label.submission_id) == (original.pk, original.submission_id)
    assert (label.thumbs, label.reason) == ("down", "wrong after all") and "amended_at" in label.details
    first.refresh_from_db()
    assert first.human_label_count == 1
    # a refused amendment keeps what was typed and changes nothing
    body = client_ann.post(
        reverse("annotate:amend_item", args=[project.pk, lease.pk]), {"thumbs": "sideways", "reason": "keep me"}
    ).content.decode()
    assert "choose thumbs up or thumbs down" in body and "keep me" in body
    assert Annotation.objects.get().thumbs == "down"


def test_after_the_lease_ends_a_recent_label_is_read_only(client_ann, project):
    factories.item(project, kind="binary")
    lease, sid, _ = _lease_and_sid(client_ann, project)
    client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]), {"submission_id": sid, "thumbs": "up"}
    )
    Assignment.objects.filter(pk=lease.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    recent = client_ann.get(reverse("annotate:recent_items", args=[project.pk])).content.decode()
    assert "read-only" in recent and "/amend/" not in recent
    body = client_ann.post(
        reverse("annotate:amend_item", args=[project.pk, lease.pk]), {"thumbs": "down"}
    ).content.decode()
    assert "can no longer be changed" in body
    assert Annotation.objects.get().thumbs == "up"
    assert (
        "can no longer be changed"
        in client_ann.get(reverse("annotate:amend_item", args=[project.pk, lease.pk])).content.decode()
    )


def test_amend_refuses_items_not_yet_submitted_and_other_peoples(client, project):
    factories.item(project, kind="binary")
    owner = factories.user("owner2", project=project)
    lease = queue.next_assignment(project, queue.human_annotator(owner))
    client.force_login(owner)
    assert (
        "can no longer be changed"
        in client.post(reverse("annotate:amend_item", args=[project.pk, lease.pk]), {"thumbs": "up"}).content.decode()
    )
    assert not Annotation.objects.exists()
    client.force_login(factories.user("other2", project=project))
    assert client.get(reverse("annotate:amend_item", args=[project.pk, lease.pk])).status_code == 404


def test_amend_form_shows_a_swapped_pairwise_label_as_it_was_given(client_ann, project):
    factories.item(project)
    lease, sid, _ = _lease_and_sid(client_ann, project)
    Assignment.objects.filter(pk=lease.pk).update(swapped=True)
    client_ann.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": sid, "preference": "-3", "aspect:helpfulness:left": "5", "rationale": "left wins"},
    )
    stored = Annotation.objects.get()
    assert stored.preference == 3 and stored.aspect_ratings == {"helpfulness": {"b": 5}}  # canonical order
    form = client_ann.get(reverse("annotate:amend_item", args=[project.pk, lease.pk])).content.decode()
    assert re.search(r'name="preference" value="-3"\s+checked', form)
    assert 'name="aspect:helpfulness:left" value="5" checked' in form
    client_ann.post(
        reverse("annotate:amend_item", args=[project.pk, lease.pk]), {"preference": "1", "rationale": "on reflection"}
    )
    stored.refresh_from_db()
    assert stored.preference == -1 and stored.aspect_ratings == {} and stored.rationale == "on reflection"


def test_shortcuts_overlay_lists_the_keys_of_the_projects_kinds(client_ann, project):
    """The overlay is drawn from each kind's own `keys` (annotate/kinds), for the kinds the project collects."""
    project.feedback_kinds = ["ranking", "likert"]
    project.save()
    page = client_ann.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    overlay = page[page.index('id="shortcuts"') :]
    assert "Rank the responses" in overlay and "Likert ratings" in overlay
    assert "<kbd>Alt+↑ / Alt+↓</kbd>" in overlay and "<kbd>0…4</kbd>" in overlay
    assert "Thumbs up / down" not in overlay and "Pairwise comparison" not in overlay
