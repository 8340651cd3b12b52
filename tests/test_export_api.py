import io
import json

import pyarrow.parquet as pq
import pytest
from django.test import Client
from django.urls import reverse

from curation.models import ExportToken
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project):
    cd.labelled_project(project, pairs=6, binaries=2, edits=1)
    return freeze_snapshot(project, test_fraction=0.3)


def token_client(project):
    _, key = ExportToken.issue(project, "trainer", created_by=factories.user(project=project, role="manager"))
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_token_lists_only_its_project_and_streams_jsonl(project, snapshot):
    factories.project()  # another project the token must not see
    c = token_client(project)
    projects = c.get(reverse("api:project_list")).json()
    assert [p["id"] for p in projects["results"]] == [project.pk] and projects["results"][0]["latest_version"] == 1
    snaps = c.get(reverse("api:snapshot_list", args=[project.pk])).json()["results"]
    assert snaps[0]["content_hash"] == snapshot.content_hash
    r = c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference")
    assert r.status_code == 200 and r.streaming and r["X-Snapshot-Content-Hash"] == snapshot.content_hash
    rows = [json.loads(line) for line in body(r).decode().splitlines()]
    assert len(rows) == 7 and {"prompt", "chosen", "rejected", "margin", "rationale", "noise", "item_id"} <= set(
        rows[0]
    )
    train = (
        body(c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference&split=train"))
        .decode()
        .splitlines()
    )
    test = (
        body(c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference&split=test"))
        .decode()
        .splitlines()
    )
    assert len(train) + len(test) == 7
    assert len(train) == snapshot.counts["by_format"]["preference"]["train"]


def test_manifest_and_latest(project, snapshot):
    c = token_client(project)
    m = c.get(reverse("api:snapshot_manifest", args=[snapshot.pk])).json()
    assert (
        m["version"] == 1 and m["content_hash"] == snapshot.content_hash and "epsilon" in m and m["counts"]["rows"] == 9
    )
    latest = c.get(reverse("api:snapshot_latest", args=[project.pk])).json()
    assert latest["id"] == snapshot.pk and "parquet" in latest["rows"]


def test_parquet_in_every_format(project, snapshot):
    c = token_client(project)
    expected = {
        "preference": 7,
        "preference_conversational": 7,
        "unpaired": 2 + 14,
        "unpaired_conversational": 2 + 14,
        "edit": 1,
    }
    for fmt, n in expected.items():
        r = c.get(reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + f"?format={fmt}")
        assert r.status_code == 200, fmt
        table = pq.read_table(io.BytesIO(body(r)))
        assert table.num_rows == n, fmt
    conv = pq.read_table(
        io.BytesIO(
            body(c.get(reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + "?format=preference_conversational"))
        )
    )
    assert conv.column("prompt")[0].as_py()[0]["role"] == "user"
    kto = pq.read_table(
        io.BytesIO(
            body(c.get(reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + "?format=unpaired_conversational"))
        )
    )
    assert (
        kto.column("prompt")[0].as_py()[0]["role"] == "user"
        and kto.column("completion")[0].as_py()[0]["role"] == "assistant"
    )


def test_bad_format_or_split_is_a_clear_400(project, snapshot):
    c = token_client(project)
    r = c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=sft")
    assert r.status_code == 400 and "unknown format" in r.json()["format"]
    assert c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?split=dev").status_code == 400


def test_token_is_scoped_to_one_project(project, snapshot):
    other = factories.project()
    cd.labelled_project(other, pairs=1, binaries=0, edits=0)
    theirs = freeze_snapshot(other)
    c = token_client(project)
    assert c.get(reverse("api:project_detail", args=[other.pk])).status_code == 404
    assert c.get(reverse("api:snapshot_list", args=[other.pk])).status_code == 404
    assert c.get(reverse("api:snapshot_detail", args=[theirs.pk])).status_code == 404
    assert c.get(reverse("api:snapshot_rows_jsonl", args=[theirs.pk])).status_code == 404


def test_token_is_read_only_and_revocable(project, snapshot):
    token, key = ExportToken.issue(project, "t", created_by=factories.user(project=project, role="manager"))
    c = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert c.post(reverse("api:snapshot_list", args=[project.pk]), {}).status_code in (403, 405)
    assert c.delete(reverse("api:snapshot_detail", args=[snapshot.pk])).status_code in (403, 405)
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoked_at = token.created_at
    token.save()
    assert c.get(reverse("api:project_list")).status_code == 401
    assert Client(HTTP_AUTHORIZATION="Token nope").get(reverse("api:project_list")).status_code == 401


def test_session_managers_export_annotators_cannot(project, snapshot, manager_user, annotator_user):
    c = Client()
    assert c.get(reverse("api:project_list")).status_code in (401, 403)
    c.force_login(manager_user)
    assert c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk])).status_code == 200
    c.force_login(annotator_user)
    assert c.get(reverse("api:project_list")).json()["results"] == []
    assert c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk])).status_code == 403
    outsider = factories.user("outsider")
    c.force_login(outsider)
    assert c.get(reverse("api:snapshot_detail", args=[snapshot.pk])).status_code == 404


def test_openapi_schema_lists_the_export(admin_user):
    c = Client()
    c.force_login(admin_user)
    r = c.get(reverse("api_schema") + "?format=json")
    assert r.status_code == 200
    schema = json.loads(r.content)
    assert "/api/snapshots/{id}/rows.jsonl" in schema["paths"]
    assert "exportToken" in schema["components"]["securitySchemes"]


@pytest.mark.postgres
def test_copy_engine_writes_exactly_the_python_rows(project):
    """The PostgreSQL fast path renders rows in SQL; it must match to_format row for row."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("COPY needs PostgreSQL")
    from curation.formats import FORMATS, iter_jsonl, iter_jsonl_copy
    from curation.models import ItemNoise, NoiseRun
    from workers.models import Rationale

    who, jury = cd.person(project), cd.judge(project)
    tricky = 'quote " backslash \\ newline \n tab \t nul-ish \x01 unicode é 漢字 emoji 🙂 </script>'
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": tricky}]
    pair = factories.item(
        project, prompt_obj=factories.prompt(project, text=tricky, messages=conv), text_a=tricky, text_b="B\\n"
    )
    cd.label(pair, who, preference=-3, rationale="line one\nline two")
    Rationale.objects.create(item=pair, text='model says "A"', model_name="tiny")
    run = NoiseRun.objects.create(project=project, method="t", epsilon=0.1, epsilon_low=0, epsilon_high=0.2)
    ItemNoise.objects.create(item=pair, run=run, p_wrong=0.1, label={"direction": -1})
    judged = factories.item(project)
    cd.label(judged, jury, preference=1)
    binary = factories.item(project, kind="binary", text_a=tricky)
    cd.label(binary, who, thumbs="down", failed_principles=["Be honest"])
    edit = factories.item(project, kind="edit", text_a="old text here")
    cd.label(edit, who, edited_text="new text here")
    snapshot = freeze_snapshot(project, test_fraction=0.5)
    for fmt in FORMATS:
        if FORMATS[fmt].sql_line() is None:  # a kind's own format: Python only (tests/test_export_formats.py)
            continue
        for split in (None, "train", "test"):
            slow = [json.loads(line) for line in b"".join(iter_jsonl(snapshot, fmt, split)).decode().splitlines()]
            fast = [json.loads(line) for line in b"".join(iter_jsonl_copy(snapshot, fmt, split)).decode().splitlines()]
            assert fast == slow, (fmt, split)
    c = token_client(project)
    python = body(
        c.get(
            reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference_conversational&engine=python"
        )
    )
    copy = body(
        c.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference_conversational&engine=copy")
    )
    assert [json.loads(x) for x in python.splitlines()] == [json.loads(x) for x in copy.splitlines()]
    assert json.loads(copy.splitlines()[0])["prompt"][1]["content"] == tricky
    for fmt in (f for f in FORMATS if FORMATS[f].sql_line() is not None):
        tables = [
            pq.read_table(
                io.BytesIO(
                    body(
                        c.get(
                            reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + f"?format={fmt}&engine={engine}"
                        )
                    )
                )
            )
            for engine in ("python", "copy")
        ]
        assert tables[0].schema == tables[1].schema and tables[0].to_pylist() == tables[1].to_pylist(), fmt


def test_project_list_query_count_does_not_grow_with_projects(admin_user, django_assert_max_num_queries):
    for _ in range(5):
        p = factories.project()
        cd.labelled_project(p, pairs=1, binaries=0, edits=0)
        freeze_snapshot(p)
    c = Client()
    c.force_login(admin_user)
    with django_assert_max_num_queries(6):
        r = c.get(reverse("api:project_list"))
    assert r.status_code == 200 and [p["latest_version"] for p in r.json()["results"]] == [1] * 5


def test_token_added_in_the_admin_shows_its_key_once_and_works(project, admin_user):
    admin = Client()
    admin.force_login(admin_user)
    r = admin.post("/admin/curation/exporttoken/add/", {"project": project.pk, "name": "nightly"}, follow=True)
    assert r.status_code == 200
    shown = [str(m) for m in r.context["messages"] if "Export key" in str(m)]
    assert len(shown) == 1
    key = shown[0].split(": ")[1].split(" ")[0]
    token = ExportToken.objects.get(name="nightly")
    assert token.created_by == admin_user and key.startswith(token.prefix) and key not in token.key_hash
    assert (
        Client(HTTP_AUTHORIZATION=f"Token {key}").get(reverse("api:project_list")).json()["results"][0]["id"]
        == project.pk
    )


def api_status(key, url=None):
    r = Client(HTTP_AUTHORIZATION=f"Token {key}").get(url or reverse("api:project_list"))
    return r.status_code, (r.json().get("detail", "") if r.status_code == 401 else "")


def test_token_expires(project):
    from datetime import timedelta

    from django.utils import timezone

    token, key = ExportToken.issue(
        project,
        "short",
        created_by=factories.user(project=project, role="manager"),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert api_status(key)[0] == 200
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert api_status(key) == (401, "Token no longer valid: expired.")


def test_token_stops_when_its_issuer_loses_access(project):
    from annotate.models import Membership

    manager = factories.user("issuer", project=project, role="manager")
    _, key = ExportToken.issue(project, "job", created_by=manager)
    lost = (401, "Token no longer valid: its issuer no longer has access to the project.")
    assert api_status(key)[0] == 200
    Membership.objects.filter(user=manager).update(role="annotator")  # demoted: may no longer export
    assert api_status(key) == lost
    Membership.objects.filter(user=manager).delete()  # removed from the project
    assert api_status(key) == lost
    Membership.objects.create(user=manager, project=project, role="manager")
    assert api_status(key)[0] == 200
    manager.is_active = False  # deactivated
    manager.save()
    assert api_status(key) == lost
    admin = factories.user("boss", superuser=True)
    _, admin_key = ExportToken.issue(project, "admin job", created_by=admin)  # admins export every project
    assert api_status(admin_key)[0] == 200
    admin.delete()  # the token outlives its issuer's account (SET_NULL) but no longer works
    assert api_status(admin_key) == lost


def test_issuing_is_a_post_and_reposting_the_form_issues_nothing(client, project, manager_user):
    import re

    client.force_login(manager_user)
    assert (
        client.get(reverse("curation:issue_token", args=[project.pk])).status_code == 405
        and not ExportToken.objects.exists()
    )
    page = client.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    nonce = re.search(r'name="nonce" value="([0-9a-f-]{36})"', page).group(1)
    form = {"name": "nightly", "expires_in_days": "7", "nonce": nonce}
    first = client.post(reverse("curation:issue_token", args=[project.pk]), form)
    assert first.status_code == 200 and 'id="token-key"' in first.content.decode()
    again = client.post(
        reverse("curation:issue_token", args=[project.pk]), form, follow=True
    )  # the browser's "reload": the same form again
    assert (
        'id="token-key"' not in again.content.decode() and "was already issued by this form" in again.content.decode()
    )
    token = ExportToken.objects.get()
    assert (
        token.created_by == manager_user and 6.9 < (token.expires_at - token.created_at).total_seconds() / 86400 < 7.1
    )
    assert (
        client.post(reverse("curation:issue_token", args=[project.pk]), {**form, "expires_in_days": "0"}).status_code
        == 302
    )
    assert ExportToken.objects.count() == 1  # a bad expiry issues nothing


def test_dashboard_says_why_a_token_stopped(client, project, manager_user):
    from annotate.models import Membership

    other = factories.user("leaver", project=project, role="manager")
    ExportToken.issue(project, "theirs", created_by=other)
    Membership.objects.filter(user=other).delete()
    client.force_login(manager_user)
    assert (
        "stopped: its issuer no longer has access to the project"
        in client.get(reverse("curation:dashboard", args=[project.pk])).content.decode()
    )


def test_a_form_nonce_issues_one_token_per_project(project):
    import uuid

    manager = factories.user(project=project, role="manager")
    nonce = uuid.uuid4()
    first, key = ExportToken.issue(project, "job", created_by=manager, nonce=nonce)
    again, no_key = ExportToken.issue(project, "job", created_by=manager, nonce=nonce)
    assert key and no_key is None and again == first
    other = factories.project()
    theirs, their_key = ExportToken.issue(other, "job", created_by=factories.user(superuser=True), nonce=nonce)
    assert their_key and theirs.project == other and ExportToken.objects.count() == 2


def test_the_public_api_paths_stay_put():
    """Training jobs and scripts spell these paths: renaming a route must not move them."""
    assert [
        reverse("api:project_list"),
        reverse("api:snapshot_latest", args=[3]),
        reverse("api:snapshot_manifest", args=[7]),
        reverse("api:snapshot_rows_jsonl", args=[7]),
        reverse("api:snapshot_rows_parquet", args=[7]),
        reverse("annotate_api:next", args=[3]),
        reverse("annotate_api:submit", args=[9]),
        reverse("api_schema"),
    ] == [
        "/api/projects/",
        "/api/projects/3/snapshots/latest/",
        "/api/snapshots/7/manifest/",
        "/api/snapshots/7/rows.jsonl",
        "/api/snapshots/7/rows.parquet",
        "/api/annotate/p/3/next/",
        "/api/annotate/a/9/submit/",
        "/api/schema/",
    ]
