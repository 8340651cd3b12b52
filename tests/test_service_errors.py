"""A refused service request (annotate.errors.ServiceError) becomes one response, with the error's
status and message, the same way in a page and in the API; the annotation API is a DRF API listed in
the OpenAPI schema; transient failures are declared Retryable, not disguised as other errors."""

import json
import uuid
from datetime import timedelta

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone

from annotate.errors import Conflict, Invalid, Retryable, ServiceError
from annotate.judging.backends import TransientBackendError
from annotate.models import Annotation, Assignment
from annotate.queue import BadDraft, BadSkip, QueueError
from annotate.strict_input import InputError
from annotate.submit import LeaseLost, SubmissionConflict, SubmissionError
from curation.actions import CurationError
from curation.snapshots import EmptySnapshotError
from tests import factories
from workers.finetune_config import ConfigError
from workers.tasks.runs import TRANSIENT_ERRORS

pytestmark = pytest.mark.django_db


def test_service_errors_share_one_base_with_a_status():
    for error, status in [
        (SubmissionError, 400),
        (SubmissionConflict, 409),
        (LeaseLost, 409),
        (QueueError, 409),
        (BadDraft, 400),
        (BadSkip, 400),
        (InputError, 400),
        (CurationError, 400),
        (EmptySnapshotError, 400),
        (ConfigError, 400),
    ]:
        assert issubclass(error, ServiceError) and error.status == status, error
    assert issubclass(Invalid, ServiceError) and issubclass(Conflict, ServiceError)
    assert str(BadDraft("too big")) == "too big" and BadDraft("too big").errors == {}


def test_transient_backend_errors_are_declared_retryable():
    assert issubclass(TransientBackendError, Retryable) and Retryable in TRANSIENT_ERRORS
    assert not issubclass(TransientBackendError, ConnectionError)


@pytest.fixture
def member(client, project):
    client.force_login(factories.user("errs", project=project))
    return client


def _expired_lease(client, project):
    factories.item(project, kind="edit", text_a="hello world")
    client.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    Assignment.objects.filter(pk=lease.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    return lease


def test_a_conflict_is_a_409_with_its_message_in_a_page_and_the_api(member, project):
    lease = _expired_lease(member, project)
    url = reverse("annotate:save_draft", args=[project.pk, lease.pk])
    page = member.post(url, {"edited_text": "late"})  # a browser: a page that says why
    assert page.status_code == 409 and page["Content-Type"].startswith("text/html")
    assert "your lease on this item expired" in page.content.decode()
    fragment = member.post(url, {"edited_text": "late"}, HTTP_HX_REQUEST="true")  # HTMX: the message itself
    assert fragment.status_code == 409 and fragment.content.decode().startswith("your lease on this item expired")
    api = member.post(reverse("annotate_api:draft", args=[lease.pk]), '{"edited_text": "late"}', "application/json")
    assert api.status_code == 409 and api.json() == {
        "error": "your lease on this item expired; the draft was not saved (submit now, or reload for a new item)",
        "errors": {},
        "detail": api.json()["error"],
    }


def test_an_invalid_request_is_a_400_with_its_message_in_a_page_and_the_api(member, project, settings):
    factories.item(project, kind="edit", text_a="hello world")
    member.get(reverse("annotate:workspace", args=[project.pk]))
    lease = Assignment.objects.get()
    settings.TANDEM_MAX_DRAFT_BYTES = 10
    page = member.post(reverse("annotate:save_draft", args=[project.pk, lease.pk]), {"edited_text": "x" * 100})
    assert page.status_code == 400 and "kB" in page.content.decode()
    api = member.post(reverse("annotate_api:skip", args=[lease.pk]), "{}", "application/json")
    assert api.status_code == 400 and api.json()["error"] == "say why you skip this item"


def test_annotation_api_is_in_the_openapi_schema(admin_client):
    schema = yaml.safe_load(admin_client.get(reverse("api_schema")).content)
    paths = schema["paths"]
    for name, args in [("next", [1]), ("submit", [1]), ("skip", [1]), ("draft", [1])]:
        path = reverse(f"annotate_api:{name}", args=args).replace(
            "/1/", "/{%s}/" % ("project_id" if name == "next" else "assignment_id")
        )
        assert "post" in paths[path], path
        assert paths[path]["post"]["tags"] == ["annotate"]
    submit = paths[reverse("annotate_api:submit", args=[1]).replace("/1/", "/{assignment_id}/")]["post"]
    assert {"201", "200", "400", "409"} <= set(submit["responses"])
    body = schema["components"]["schemas"]["SubmitRequest"]
    assert "submission_id" in body["required"] and "preference" in body["properties"]


def test_annotation_api_runs_on_drf_idempotent_by_submission_id(member, project):
    factories.item(project, text_a="a", text_b="b")
    lease = member.post(reverse("annotate_api:next", args=[project.pk])).json()
    assert lease["kind"] == "pairwise" and {"left", "right", "prompt", "draft", "leased_until"} <= lease.keys()
    url = reverse("annotate_api:submit", args=[lease["assignment"]])
    sid = str(uuid.uuid4())
    first = member.post(url, json.dumps({"submission_id": sid, "preference": 1}), "application/json")
    again = member.post(url, json.dumps({"submission_id": sid, "preference": 1}), "application/json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"annotation": Annotation.objects.get().pk, "created": True}
    assert again.json() == {"annotation": Annotation.objects.get().pk, "created": False}
    other = member.post(url, json.dumps({"submission_id": sid, "preference": -1}), "application/json")
    assert other.status_code == 409 and other.json()["error"]
    assert member.get(reverse("annotate_api:next", args=[project.pk])).json() == {"done": True, "assignment": None}
    # Only JSON is read, strictly: a duplicate key is a 400 that says so.
    dup = member.post(url, '{"submission_id": "a", "submission_id": "b"}', "application/json")
    assert dup.status_code == 400 and "duplicate key" in dup.json()["error"]
