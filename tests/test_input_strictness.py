"""Bad input to the annotate API and the workspace form is a clear 400 (JSON from the API), never a
500 and never silently coerced; drafts are capped and refused on expired leases."""

import json
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate import queue
from annotate.models import Annotation, Assignment
from annotate.strict_input import InputError, loads
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, project):
    user = factories.user("strict", project=project)
    client.force_login(user)
    return client


def _lease(client, project):
    return client.post(reverse("annotate_api:next", args=[project.pk])).json()["assignment"]


def _post(client, url, raw):
    return client.post(url, raw, content_type="application/json")


def _sid():
    return f'"{uuid.uuid4()}"'


# Each body goes to a pairwise item's submit; each must be a 400 that says what was wrong, and store nothing.
BAD_BODIES = {
    "infinity": ('{"submission_id": %s, "preference": Infinity}', "Infinity"),
    "huge float": ('{"submission_id": %s, "preference": 1e400}', "out of range"),
    "nan": ('{"submission_id": %s, "preference": NaN}', "NaN"),
    "nan in nested data": ('{"submission_id": %s, "preference": 1, "aspects": {"helpfulness": {"left": NaN}}}', "NaN"),
    "deep nesting": ('{"submission_id": %s, "preference": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}", "nested"),
    "nul character": ('{"submission_id": %s, "preference": 1, "rationale": "a\\u0000b"}', "NUL"),
    "lone surrogate": ('{"submission_id": %s, "preference": 1, "rationale": "a\\ud800b"}', "surrogate"),
    "400-digit integer": ('{"submission_id": %s, "preference": ' + "9" * 400 + "}", "400 digits"),
    "duplicate keys": ('{"submission_id": %s, "preference": 1, "preference": -3}', "duplicate key 'preference'"),
    "fractional preference": ('{"submission_id": %s, "preference": 2.7}', "whole number from -3"),
    "boolean preference": ('{"submission_id": %s, "preference": true}', "whole number from -3"),
    "out of range": ('{"submission_id": %s, "preference": 5}', "whole number from -3"),
    "fractional rating": (
        '{"submission_id": %s, "preference": 1, "aspects": {"helpfulness": {"left": 4.5}}}',
        "rating",
    ),
    "boolean rating": ('{"submission_id": %s, "preference": 1, "aspects": {"helpfulness": {"left": true}}}', "rating"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_api_submit_refuses_bad_json_with_a_400(member, project, name):
    factories.item(project)
    assignment = _lease(member, project)
    template, expected = BAD_BODIES[name]
    response = _post(member, reverse("annotate_api:submit", args=[assignment]), template % _sid())
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert expected in body["error"] + json.dumps(body["errors"]), body
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=assignment).state == "leased"


def test_api_submit_keeps_integers_exact(member, project):
    factories.item(project)
    assignment = _lease(member, project)
    body = {"submission_id": str(uuid.uuid4()), "preference": -2, "aspects": {"helpfulness": {"left": 5, "right": 1}}}
    assert _post(member, reverse("annotate_api:submit", args=[assignment]), json.dumps(body)).status_code == 201
    annotation = Annotation.objects.get()
    assert abs(annotation.preference) == 2 and sorted(annotation.aspect_ratings["helpfulness"].values()) == [1, 5]


def test_api_skip_and_draft_refuse_bad_text(member, project):
    factories.item(project, kind="binary")
    assignment = _lease(member, project)
    for raw in ('{"reason": "x\\u0000"}', '{"reason": {"nested": 1}}', '{"reason": "a", "reason": "b"}'):
        response = _post(member, reverse("annotate_api:skip", args=[assignment]), raw)
        assert response.status_code == 400 and response.json()["error"], raw
    response = _post(member, reverse("annotate_api:draft", args=[assignment]), '{"reason": "a\\ud800"}')
    assert response.status_code == 400 and "surrogate" in response.json()["error"]
    assert Assignment.objects.get(pk=assignment).state == "leased"


def test_api_range_message_names_the_real_scale(member, project):
    factories.item(project)
    assignment = _lease(member, project)
    response = _post(
        member, reverse("annotate_api:submit", args=[assignment]), f'{{"submission_id": {_sid()}, "preference": 7}}'
    )
    message = response.json()["errors"]["preference"]
    assert "-3" in message and "3" in message and "1-7" not in message


def test_api_refusals_are_json(client, project):
    factories.item(project, kind="binary")
    outsider = factories.user("json-outsider")
    client.force_login(outsider)
    for response in (
        client.post(reverse("annotate_api:next", args=[project.pk])),
        client.post(reverse("annotate_api:next", args=[999999])),
        _post(client, reverse("annotate_api:submit", args=[999999]), "{}"),
    ):
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json()["error"]
    response = client.get(reverse("annotate_api:submit", args=[1]))
    assert response.status_code == 405 and "POST" in response.json()["error"]


def test_form_submit_refuses_nul_and_fractions_and_keeps_the_lease(member, project):
    factories.item(project)
    html = member.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    lease = Assignment.objects.get()
    url = reverse("annotate:submit_item", args=[project.pk, lease.pk])
    sid = str(uuid.uuid4())
    for post, expected in (
        ({"preference": "2.7"}, "whole number"),
        ({"preference": "true"}, "whole number"),
        ({"preference": "inf"}, "whole number"),
        ({"preference": "1e400"}, "whole number"),
        ({"preference": "1", "rationale": "bad\x00byte"}, "NUL"),
        ({"preference": "1", "aspect:helpfulness:left": "4.5"}, "rating"),
        ({"preference": "1", "time_spent_ms": "1e400"}, None),
    ):
        response = member.post(url, {"submission_id": sid, **post}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        if expected is None:  # timing is telemetry: a non-finite one falls back to the server clock
            annotation = Annotation.objects.get()
            assert 0 <= annotation.time_spent_ms < 24 * 3600 * 1000
        else:
            assert expected in response.content.decode(), post
            assert not Annotation.objects.exists()
    assert 'id="item-form"' in html


def test_rationale_cap_is_a_clear_error(member, project, settings):
    settings.TANDEM_MAX_RATIONALE_CHARS = 100
    factories.item(project)
    assignment = _lease(member, project)
    body = {"submission_id": str(uuid.uuid4()), "preference": 1, "rationale": "x" * 101}
    response = _post(member, reverse("annotate_api:submit", args=[assignment]), json.dumps(body))
    assert response.status_code == 400 and "at most 100" in response.json()["errors"]["rationale"]


# --- drafts ----------------------------------------------------------------------------------


def test_draft_size_is_capped(member, project, settings):
    factories.item(project, kind="edit", text_a="hello world")
    member.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    url = reverse("annotate:save_draft", args=[project.pk, lease.pk])
    assert member.post(url, {"edited_text": "hello there world"}).status_code == 204
    big = "x" * (settings.TANDEM_MAX_DRAFT_BYTES + 1)
    response = member.post(url, {"edited_text": big})
    assert response.status_code == 400 and "kB" in response.content.decode()
    assert Assignment.objects.get(pk=lease.pk).draft == {"edited_text": "hello there world", "failed_principles": []}
    page = member.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    assert big not in page and len(page) < settings.TANDEM_MAX_DRAFT_BYTES * 4


def test_draft_on_expired_lease_is_refused(member, project):
    factories.item(project, kind="edit", text_a="hello world")
    member.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    Assignment.objects.filter(pk=lease.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    response = member.post(reverse("annotate:save_draft", args=[project.pk, lease.pk]), {"edited_text": "late"})
    assert response.status_code == 409 and "expired" in response.content.decode()
    lease.refresh_from_db()
    assert lease.draft == {} and lease.leased_until < timezone.now()
    response = _post(member, reverse("annotate_api:draft", args=[lease.pk]), '{"edited_text": "late"}')
    assert response.status_code == 409 and "expired" in response.json()["error"]


def test_api_draft_round_trip(member, project):
    factories.item(project, kind="edit", text_a="hello world")
    assignment = _lease(member, project)
    response = _post(member, reverse("annotate_api:draft", args=[assignment]), '{"edited_text": "hello there world"}')
    assert response.status_code == 200
    assert member.post(reverse("annotate_api:next", args=[project.pk])).json()["draft"] == {
        "edited_text": "hello there world"
    }


def test_queue_save_draft_caps_directly(project, settings):
    settings.TANDEM_MAX_DRAFT_BYTES = 1000
    factories.item(project, kind="binary")
    ann = queue.human_annotator(factories.user("drafty", project=project))
    lease = queue.next_assignment(project, ann)
    with pytest.raises(queue.BadDraft, match="kB"):
        queue.save_draft(lease, {"reason": "é" * 600})  # 1,200 bytes in UTF-8


# --- the parser itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": 1e999}',
        '{"a": 1, "a": 1}',
        '{"a": "\\u0000"}',
        '{"\\udc00": 1}',
        "[" * 40 + "]" * 40,
        b'{"a": "\xff"}',
        '{"a": -' + "1" * 30 + "}",
    ],
)
def test_strict_loads_refuses(raw):
    with pytest.raises(InputError):
        loads(raw)


def test_strict_loads_accepts_ordinary_json():
    assert loads('{"a": [1, -2.5, "ü", null, true], "b": {"c": 9007199254740991}}') == {
        "a": [1, -2.5, "ü", None, True],
        "b": {"c": 9007199254740991},
    }


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"beta": NaN}', "NaN"),
        ('{"beta": 0.1, "beta": 0.2}', "duplicate key"),
        ('{"learning_rate": 1e400}', "out of range"),
        ('{"x": "\\u0000"}', "NUL"),
        ('{"beta": 0.1', "not valid JSON"),
    ],
)
def test_run_forms_read_json_config_strictly(raw, expected):
    from workers.forms import JSONObjectField

    with pytest.raises(Exception) as caught:
        JSONObjectField().clean(raw)
    assert expected in " ".join(caught.value.messages)
    assert JSONObjectField().clean('{"beta": 0.1}') == {"beta": 0.1}
