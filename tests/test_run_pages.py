"""Run pages: permissions, starting runs from the forms, the live status fragment, cancel."""
import pytest

from tests import factories
from tests import workers_helpers as wh
from tests.workers_helpers import artifacts_dir, tiny_model_dir  # noqa: F401
from workers import runs
from workers.models import FineTuneRun, Rationale, RunKind, TaskRun

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def test_only_managers_see_project_runs(client, project, manager_user, annotator_user):
    url = f"/runs/p/{project.pk}/"
    assert client.get(url).status_code == 302  # login first
    assert login(client, annotator_user).get(url).status_code == 403
    outsider = factories.user("outsider", project=factories.project())
    assert login(client, outsider).get(url).status_code == 404
    page = login(client, manager_user).get(url)
    assert page.status_code == 200 and b"Fine-tune on a snapshot" in page.content


def test_run_pages_follow_the_project(client, project, manager_user, annotator_user):
    run = runs.create_run(RunKind.NOISE, project=project)
    assert login(client, annotator_user).get(f"/runs/{run.pk}/").status_code == 403
    assert login(client, manager_user).get(f"/runs/{run.pk}/").status_code == 200
    orphan = runs.create_run(RunKind.NOISE)
    assert client.get(f"/runs/{orphan.pk}/").status_code == 403


@pytest.mark.slow
def test_start_finetune_from_form(client, project, manager_user, tiny_model_dir, artifacts_dir):
    snap = wh.snapshot(project, pairs=8, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    resp = client.post(f"/runs/p/{project.pk}/finetune/", {
        "snapshot": snap.pk, "model_spec": spec.pk, "method": "dpo", "noise_weighting": "none", "noise_threshold": 0.5,
        "config": '{"per_device_train_batch_size": 4, "max_length": 64, "learning_rate": 0.001}', "lora": "",
    })
    ft = FineTuneRun.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/runs/{ft.run_id}/"
    page = client.get(resp["Location"]).content.decode()
    assert "Succeeded" in page and "<svg" in page and "polyline" in page and "model/model.safetensors" in page
    assert "Test preference accuracy" in page and 'hx-trigger="every 2s"' not in page  # finished: polling stops
    assert ft.run.created_by == manager_user


def test_bad_finetune_input_explains_and_saves_nothing(client, project, manager_user, tiny_model_dir):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    base = {"snapshot": snap.pk, "model_spec": spec.pk, "method": "dpo", "noise_weighting": "none", "noise_threshold": 0.5, "lora": ""}
    resp = client.post(f"/runs/p/{project.pk}/finetune/", {**base, "config": "{beta: 1}"})
    assert resp.status_code == 400 and b"not valid JSON" in resp.content
    resp = client.post(f"/runs/p/{project.pk}/finetune/", {**base, "config": '{"betta": 1}'})
    assert resp.status_code == 400 and b"DPOConfig has no field(s) betta" in resp.content
    other = wh.snapshot(factories.project(), pairs=1, binary=0, edits=0)
    resp = client.post(f"/runs/p/{project.pk}/finetune/", {**base, "snapshot": other.pk, "config": ""})
    assert resp.status_code == 400  # a snapshot of another project is not a choice
    assert not TaskRun.objects.exists()


@pytest.mark.slow
def test_start_rationales_from_form(client, project, manager_user, tiny_model_dir):
    snap = wh.snapshot(project, pairs=3, binary=1, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    resp = client.post(f"/runs/p/{project.pk}/rationales/", {"snapshot": snap.pk, "model_spec": spec.pk,
                        "kinds": ["pairwise", "binary"], "batch_size": 2, "max_new_tokens": 8})
    assert resp.status_code == 302
    assert Rationale.objects.count() == 4


def test_status_fragment_polls_while_running_and_cancel(client, project, manager_user):
    run = runs.create_run(RunKind.FINETUNE, project=project)
    runs.claim_run(run.pk, worker="w1")
    runs.set_progress(run, 3, 10)
    runs.log(run, "step 3/10 loss 0.6931 <script>alert(1)</script>")
    runs.update_metrics(run, history=[{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.69}, {"step": 3, "loss": 0.6}])
    login(client, manager_user)
    frag = client.get(f"/runs/{run.pk}/status/").content.decode()
    assert 'hx-trigger="every 2s"' in frag and 'aria-valuenow="30"' in frag and "polyline" in frag
    assert "<script>alert(1)" not in frag and "&lt;script&gt;" in frag
    resp = client.post(f"/runs/{run.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and b"cancelling" in resp.content
    run.refresh_from_db()
    assert run.cancel_requested
    with pytest.raises(runs.RunCancelled):
        runs.set_progress(run, 4)
