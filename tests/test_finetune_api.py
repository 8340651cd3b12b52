"""The fine-tune REST API: every method and noise handling the form offers, refused input with the
form's messages, one run per Idempotency-Key, managers of the project only."""

import json

import pytest
from django.urls import reverse

from annotate.models import Membership
from curation.models import ExportToken
from curation.snapshots import freeze_snapshot
from tests import factories
from tests import workers_helpers as wh
from tests.test_pluralism import _cats_and_dogs
from tests.workers_helpers import artifacts_dir, tiny_model_dir  # noqa: F401
from workers.forms import FineTuneForm
from workers.models import FineTuneMethod, FineTuneRun, ModelSpec, NoiseWeighting, RunState, TaskRun

pytestmark = pytest.mark.django_db

FAST = {"per_device_train_batch_size": 4, "num_train_epochs": 1, "learning_rate": 1e-3, "max_length": 64}


def post(client, project, body, **headers):
    return client.post(
        reverse("runs_api:finetunes", args=[project.pk]), json.dumps(body), content_type="application/json", **headers
    )


@pytest.fixture
def manager(client, manager_user):
    client.force_login(manager_user)
    return client


@pytest.fixture
def unused_spec(db):
    """A model the request validation accepts but that is not on disk (so the form has no tokenizer
    to count lengths with). A run the API queues fails when the test's eager worker loads it: these
    tests look at requests, keys and permissions, never at training."""
    return ModelSpec.objects.create(name="api-model", path_or_id="/nonexistent/model", max_length=256)


def test_the_form_and_the_api_offer_every_method_and_noise_handling(project):
    form = FineTuneForm(project)
    offered = {v for v, _ in form.fields["method"].choices}  # type: ignore[attr-defined]
    assert offered == set(FineTuneMethod.values) >= {"dpo_rationale", "rdpo", "kto", "bco", "reward"}
    assert {v for v, _ in form.fields["noise_weighting"].choices} == set(NoiseWeighting.values)  # type: ignore[attr-defined]
    from workers.serializers import FineTuneRequestSerializer

    api = FineTuneRequestSerializer()
    assert set(api.fields["method"].choices) == set(FineTuneMethod.values)
    assert set(api.fields["noise_weighting"].choices) == set(NoiseWeighting.values)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "weighting"),
    [
        ("dpo", "weight"),
        ("dpo_rationale", "none"),
        ("rdpo", "drop"),
        ("ipo", "sample"),
        ("bco", "none"),
        ("kto", "none"),
        ("reward", "weight"),
    ],
)
def test_every_trl_method_starts_and_trains_through_the_api(
    manager, project, tiny_model_dir, artifacts_dir, method, weighting
):
    snap = wh.snapshot(project, pairs=12, binary=4, edits=2)
    spec = wh.model_spec(tiny_model_dir)
    config = {**FAST, **({"rationale_gamma": 0.5} if method == "dpo_rationale" else {})}
    body = {"snapshot": snap.pk, "model": spec.name, "method": method, "config": config, "noise_weighting": weighting}
    response = post(manager, project, body)
    assert response.status_code == 202, response.content
    shown = response.json()
    ft = FineTuneRun.objects.get(run_id=shown["run"])
    assert (ft.method, ft.noise_weighting, ft.snapshot_id, ft.model_spec_id) == (method, weighting, snap.pk, spec.pk)
    assert response["Location"] == reverse("runs_api:finetune", args=[project.pk, ft.run_id])
    # the tests run tasks in-process, so the run has trained by now; read it back as a client would
    followed = manager.get(response["Location"]).json()
    assert followed["state"] == RunState.SUCCEEDED, TaskRun.objects.get(pk=ft.run_id).error
    assert followed["evaluation"]["pairs"] > 0
    assert bool(followed["result_model"]) == (method != "reward")  # a policy is registered for generation
    assert followed["rows"]["kept"] > 0
    if weighting == "weight":
        assert followed["rows"]["weight_mean"] is not None


@pytest.mark.slow
def test_the_mixture_reward_model_starts_through_the_api(manager, project, artifacts_dir):
    _cats_and_dogs(project)
    snap = freeze_snapshot(project, test_fraction=0.2)
    spec = ModelSpec.objects.create(name="unused-by-mixture", path_or_id="none")
    body = {"snapshot": snap.pk, "model": spec.name, "method": "reward_mixture", "config": {"k_max": 3}}
    response = post(manager, project, body)
    assert response.status_code == 202, response.content
    assert manager.get(response["Location"]).json()["state"] == RunState.SUCCEEDED


def test_refusals_name_the_field_and_queue_nothing(manager, project, unused_spec):
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    base = {"snapshot": snap.pk, "model": unused_spec.name, "method": "dpo", "start_anyway": True}
    cases = [
        ({"config": {"push_to_hub": True}}, "config", "push_to_hub"),
        ({"model": "no-such-model"}, "model", "no model named"),
        ({"snapshot": wh.snapshot(factories.project(), pairs=2, binary=0, edits=0).pk}, "snapshot", "valid choice"),
        ({"method": "kto", "noise_weighting": "weight"}, None, "not kto"),
        ({"method": "ppo"}, "method", "not a valid choice"),
        ({"noise_threshold": 1.5}, "noise_threshold", "less than or equal"),
        ({"lora": {"r": "x"}}, "lora", ""),
    ]
    for change, field, words in cases:
        response = post(manager, project, {**base, **change})
        assert response.status_code == 400, (change, response.content)
        body = response.json()
        assert set(body) >= {"error", "errors"}, body  # one shape, whichever check refused it
        assert words in json.dumps(body), (change, body)
        if field:
            assert field in body["errors"], (change, body)
    other_model = ModelSpec.objects.create(name="theirs", path_or_id="x", project=factories.project())
    assert post(manager, project, {**base, "model": other_model.name}).status_code == 400
    assert not FineTuneRun.objects.exists() and not TaskRun.objects.exists()
    malformed = manager.post(
        reverse("runs_api:finetunes", args=[project.pk]), '{"snapshot": 1,', content_type="application/json"
    )
    assert malformed.status_code == 400 and malformed.json()["error"]


def test_one_run_per_idempotency_key(manager, manager_user, project, unused_spec):
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    body = {"snapshot": snap.pk, "model": unused_spec.name, "method": "dpo", "start_anyway": True}
    first = post(manager, project, body, HTTP_IDEMPOTENCY_KEY="job-1")
    again = post(manager, project, body, HTTP_IDEMPOTENCY_KEY="job-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["run"] == again.json()["run"] and FineTuneRun.objects.count() == 1
    clash = post(manager, project, {**body, "method": "ipo"}, HTTP_IDEMPOTENCY_KEY="job-1")
    assert clash.status_code == 409 and "method" in clash.json()["error"]
    assert post(manager, project, body, HTTP_IDEMPOTENCY_KEY="job-2").status_code == 202
    assert post(manager, project, body).status_code == 202  # no key: each request starts a run
    assert FineTuneRun.objects.count() == 3
    # the same key in another project is another key
    other = factories.project()
    Membership.objects.create(project=other, user=manager_user, role="manager")
    theirs = wh.snapshot(other, pairs=4, binary=0, edits=0)
    response = post(manager, other, {**body, "snapshot": theirs.pk}, HTTP_IDEMPOTENCY_KEY="job-1")
    assert response.status_code == 202 and FineTuneRun.objects.count() == 4


def test_list_detail_and_cancel_stay_in_the_project(manager, project, unused_spec, settings):
    from workers import finetune

    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    mine = finetune.create_finetune(snap, unused_spec, "dpo")
    elsewhere_project = factories.project()
    theirs = finetune.create_finetune(wh.snapshot(elsewhere_project, pairs=2, binary=0, edits=0), unused_spec, "dpo")
    listed = manager.get(reverse("runs_api:finetunes", args=[project.pk])).json()
    assert [r["run"] for r in listed] == [mine.run_id]
    assert manager.get(reverse("runs_api:finetune", args=[project.pk, theirs.run_id])).status_code == 404
    assert manager.post(reverse("runs_api:cancel_finetune", args=[project.pk, theirs.run_id])).status_code == 404
    cancelled = manager.post(reverse("runs_api:cancel_finetune", args=[project.pk, mine.run_id]))
    assert cancelled.status_code == 200
    mine.run.refresh_from_db()
    assert mine.run.cancel_requested or mine.run.state == RunState.CANCELLED
    theirs.run.refresh_from_db()
    assert not theirs.run.cancel_requested and theirs.run.state == RunState.QUEUED


def test_a_failed_run_reports_its_errors_last_line_not_its_traceback(manager, project, unused_spec):
    from workers import finetune

    ft = finetune.create_finetune(wh.snapshot(project, pairs=4, binary=0, edits=0), unused_spec, "dpo")
    trace = 'Traceback (most recent call last):\n  File "/srv/tandem/workers/finetune.py", line 1\nOSError: no model\n'
    TaskRun.objects.filter(pk=ft.run_id).update(state=RunState.FAILED, error=trace)
    followed = manager.get(reverse("runs_api:finetune", args=[project.pk, ft.run_id])).json()
    assert followed["state"] == RunState.FAILED and followed["error"] == "OSError: no model"


def test_only_the_projects_managers_may_use_it(client, project, annotator_user, unused_spec):
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    body = {"snapshot": snap.pk, "model": unused_spec.name, "method": "dpo", "start_anyway": True}
    url = reverse("runs_api:finetunes", args=[project.pk])
    assert post(client, project, body).status_code == 401  # no session
    client.force_login(annotator_user)
    assert post(client, project, body).status_code == 403 and client.get(url).status_code == 403
    client.force_login(factories.user("outsider", project=factories.project(), role="manager"))
    assert post(client, project, body).status_code == 404
    client.logout()
    _, key = ExportToken.issue(project, "job", created_by=factories.user(project=project, role="manager"))
    assert post(client, project, body, HTTP_AUTHORIZATION=f"Token {key}").status_code in (401, 403)
    assert not FineTuneRun.objects.exists()


def test_the_api_is_in_the_schema_and_its_paths_stay_put(client, admin_user):
    assert reverse("runs_api:finetunes", args=[3]) == "/api/projects/3/finetunes/"
    assert reverse("runs_api:finetune", args=[3, 9]) == "/api/projects/3/finetunes/9/"
    assert reverse("runs_api:cancel_finetune", args=[3, 9]) == "/api/projects/3/finetunes/9/cancel/"
    client.force_login(admin_user)
    schema = client.get(reverse("api_schema"), HTTP_ACCEPT="application/json").json()
    assert {"/api/projects/{project_id}/finetunes/", "/api/projects/{project_id}/finetunes/{run_id}/"} <= set(
        schema["paths"]
    )
    assert "dpo_rationale" in json.dumps(schema["components"]["schemas"])


def test_the_form_checks_a_mixture_config_against_the_mixtures_fields(project, unused_spec):
    """reward_mixture's config (k_max, heads, …) is not TRL's: the form used to refuse it."""
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    base = {"snapshot": snap.pk, "model_spec": unused_spec.pk, "method": "reward_mixture", "start_anyway": "on"}
    base |= {"noise_weighting": "none", "noise_threshold": 0.5}
    assert FineTuneForm(project, {**base, "config": '{"k_max": 3}'}).is_valid()
    refused = FineTuneForm(project, {**base, "config": '{"beta": 0.1}'})
    assert not refused.is_valid() and "reward_mixture takes only" in refused.errors["config"][0]


def test_a_mixture_on_a_model_with_a_local_tokenizer_is_not_length_checked(project, tiny_model_dir):
    """The length check counts tokens of TRL rows; reward_mixture has none (it embeds texts), so a
    model whose tokenizer is on disk must not make the form fail (it raised KeyError: a 500)."""
    snap = wh.snapshot(project, pairs=4, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    base = {"snapshot": snap.pk, "model_spec": spec.pk, "noise_weighting": "none", "noise_threshold": 0.5}
    mixture = FineTuneForm(project, {**base, "method": "reward_mixture", "config": '{"k_max": 3}'})
    assert mixture.is_valid(), mixture.errors
    assert mixture.length_estimate is None
    dpo = FineTuneForm(project, {**base, "method": "dpo", "config": '{"max_length": 16}'})
    dpo.is_valid()  # the same model's tokenizer counts a DPO run's rows
    assert dpo.length_estimate is not None and dpo.length_estimate.sampled > 0
