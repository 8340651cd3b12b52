"""Run pages: permissions, starting runs from the forms, the live status fragment, cancel."""

import pytest
from django.urls import reverse

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
    url = reverse("workers:project_runs", args=[project.pk])
    assert client.get(url).status_code == 302  # login first
    assert login(client, annotator_user).get(url).status_code == 403
    outsider = factories.user("outsider", project=factories.project())
    assert login(client, outsider).get(url).status_code == 404
    page = login(client, manager_user).get(url)
    assert page.status_code == 200 and b"Fine-tune on a snapshot" in page.content


def test_run_pages_follow_the_project(client, project, manager_user, annotator_user):
    run = runs.create_run(RunKind.NOISE, project=project)
    assert login(client, annotator_user).get(reverse("workers:run", args=[project.pk, run.pk])).status_code == 403
    assert login(client, manager_user).get(reverse("workers:run", args=[project.pk, run.pk])).status_code == 200
    orphan = runs.create_run(RunKind.NOISE)  # a run of no project is seen in the admin only
    assert client.get(reverse("workers:run", args=[project.pk, orphan.pk])).status_code == 404
    elsewhere = runs.create_run(RunKind.NOISE, project=factories.project())
    assert client.get(reverse("workers:run", args=[project.pk, elsewhere.pk])).status_code == 404


@pytest.mark.slow
def test_start_finetune_from_form(client, project, manager_user, tiny_model_dir, artifacts_dir):
    snap = wh.snapshot(project, pairs=8, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    resp = client.post(
        reverse("workers:start_finetune", args=[project.pk]),
        {
            "snapshot": snap.pk,
            "model_spec": spec.pk,
            "method": "dpo",
            "noise_weighting": "none",
            "noise_threshold": 0.5,
            "config": '{"per_device_train_batch_size": 4, "max_length": 64, "learning_rate": 0.001}',
            "lora": "",
        },
    )
    ft = FineTuneRun.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse("workers:run", args=[project.pk, ft.run_id])
    page = client.get(resp["Location"]).content.decode()
    assert "Succeeded" in page and "<svg" in page and "polyline" in page and "model/model.safetensors" in page
    assert "Test preference accuracy" in page and 'hx-trigger="every 2s"' not in page  # finished: polling stops
    assert f"Fine-tune run {ft.run_id} succeeded." in page  # in-process: the message says it finished, not "queued"
    assert ft.run.created_by == manager_user


def test_bad_finetune_input_explains_and_saves_nothing(client, project, manager_user, tiny_model_dir):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    base = {
        "snapshot": snap.pk,
        "model_spec": spec.pk,
        "method": "dpo",
        "noise_weighting": "none",
        "noise_threshold": 0.5,
        "lora": "",
    }
    resp = client.post(reverse("workers:start_finetune", args=[project.pk]), {**base, "config": "{beta: 1}"})
    assert resp.status_code == 400 and b"not valid JSON" in resp.content
    resp = client.post(reverse("workers:start_finetune", args=[project.pk]), {**base, "config": '{"betta": 1}'})
    assert resp.status_code == 400 and b"betta is not a training field" in resp.content
    other = wh.snapshot(factories.project(), pairs=1, binary=0, edits=0)
    resp = client.post(
        reverse("workers:start_finetune", args=[project.pk]), {**base, "snapshot": other.pk, "config": ""}
    )
    assert resp.status_code == 400  # a snapshot of another project is not a choice
    assert not TaskRun.objects.exists()


@pytest.mark.slow
def test_start_rationales_from_form(client, project, manager_user, tiny_model_dir):
    snap = wh.snapshot(project, pairs=3, binary=1, edits=0)
    spec = wh.model_spec(tiny_model_dir)
    login(client, manager_user)
    resp = client.post(
        reverse("workers:start_rationales", args=[project.pk]),
        {
            "snapshot": snap.pk,
            "model_spec": spec.pk,
            "kinds": ["pairwise", "binary"],
            "batch_size": 2,
            "max_new_tokens": 8,
        },
    )
    assert resp.status_code == 302
    assert Rationale.objects.count() == 4


def test_status_fragment_polls_while_running_and_cancel(client, project, manager_user):
    run = runs.create_run(RunKind.FINETUNE, project=project)
    runs.claim_run(run.pk, worker="w1")
    runs.set_progress(run, 3, 10)
    runs.log(run, "step 3/10 loss 0.6931 <script>alert(1)</script>")
    runs.update_metrics(run, history=[{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.69}, {"step": 3, "loss": 0.6}])
    login(client, manager_user)
    frag = client.get(reverse("workers:run_status", args=[project.pk, run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in frag and 'aria-valuenow="30"' in frag and "polyline" in frag
    assert "<script>alert(1)" not in frag and "&lt;script&gt;" in frag
    resp = client.post(reverse("workers:cancel_run", args=[project.pk, run.pk]), HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and b"cancelling" in resp.content
    run.refresh_from_db()
    assert run.cancel_requested
    with pytest.raises(runs.RunCancelled):
        runs.set_progress(run, 4)


@pytest.mark.browser
@pytest.mark.slow
def test_run_pages_in_a_browser(live_server, transactional_db, tiny_model_dir, tmp_path, settings, monkeypatch):
    """Screenshots of the project's runs page and a finished fine-tune run (into the test output)."""

    from django.db import connections
    from playwright.sync_api import sync_playwright

    from workers import finetune
    from workers.tasks.finetune import finetune as task

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls beside Playwright's event loop
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    project = factories.project("Helpful assistant")
    factories.user("manager", project=project, role="manager")
    snap = wh.snapshot(project, pairs=40, binary=4, edits=2)
    spec = wh.model_spec(tiny_model_dir, name="tiny-llama")
    ft = finetune.create_finetune(
        snap,
        spec,
        "rdpo",
        config={"per_device_train_batch_size": 2, "max_length": 64, "learning_rate": 0.001, "num_train_epochs": 2},
    )
    task.delay(ft.run_id)
    from datetime import timedelta

    from django.utils import timezone

    from annotate.models import Annotation
    from tests import curation_data
    from workers import latent_prefs, schedules
    from workers.models import FineTuneSchedule, LatentPreference

    schedules.save_schedule(
        FineTuneSchedule(project=project, name="nightly", min_new_labels=200, model_spec=spec, method="rdpo")
    )
    ann_user = factories.user("alice", project=project)
    alice = factories.human(ann_user)
    for day, (draft, edited) in enumerate(
        [
            ("Paris is a city in Germany with many museums.", "Paris is in France."),
            ("Water boils at 90 degrees.", "Water boils at 100 °C at sea level."),
            ("def add(a, b): return a - b", "def add(a, b): return a + b"),
        ]
    ):
        item = factories.item(
            project, kind="edit", text_a=draft, prompt_obj=factories.prompt(project, text=f"Fact {day}?")
        )
        a = curation_data.label(item, alice, edited_text=edited)
        Annotation.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=2 - day))
        LatentPreference.objects.create(
            project=project,
            annotator=alice,
            annotation=a,
            context=f"Fact {day}?",
            description=[
                "prefers short factual answers",
                "prefers units and conditions",
                "prefers correct code over explanations",
            ][day],
            embedding=latent_prefs.embed([f"Fact {day}?"])[0].tolist(),
            model_name="tiny-llama",
        )
    live = runs.create_run(RunKind.RATIONALE, project=project, params={"snapshot_id": snap.pk})
    runs.claim_run(live.pk, worker="gpu-worker@node1")
    runs.set_progress(live, 18, 46)
    runs.log(live, "46 of 46 items to explain with tiny-llama")
    from tests.browser import CHROMIUM
    from tests.browser import SCREENSHOTS as out

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
        page.goto(live_server.url + reverse("login"))
        page.fill("input[name=username]", "manager")
        page.fill("input[name=password]", "pw-123456")
        page.click("button[type=submit], input[type=submit]")
        page.goto(live_server.url + reverse("workers:project_runs", args=[project.pk]))
        assert page.locator("table.runs tr").count() >= 3
        page.screenshot(path=str(out / "runs-project.png"), full_page=True)
        page.goto(live_server.url + reverse("workers:run", args=[project.pk, ft.run_id]))
        assert page.locator("svg.chart polyline").count() >= 1
        page.screenshot(path=str(out / "runs-finetune.png"), full_page=True)
        page.goto(live_server.url + reverse("workers:run", args=[project.pk, live.pk]))
        runs.set_progress(live, 30)
        connections.close_all()  # the ORM call above opened a connection in Playwright's context
        page.wait_for_selector('[aria-valuenow="65"]', timeout=10000)  # the fragment polls itself
        page.click("text=Cancel run")
        page.wait_for_selector("text=cancelling", timeout=10000)
        page.screenshot(path=str(out / "runs-live.png"), full_page=True)
        page.context.clear_cookies()
        page.goto(live_server.url + reverse("login"))
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "pw-123456")
        page.click("button[type=submit]")
        page.goto(live_server.url + reverse("workers:latent_prefs", args=[project.pk]) + "?context=Fact+1%3F")
        page.fill("#latent-prefs input[name=text] >> nth=0", "prefers SI units")
        page.click("#latent-prefs button >> nth=0")
        page.wait_for_selector("text=corrected by you")
        assert page.locator("text=For this prompt").count() == 1  # the correction keeps the prompt's preference shown
        page.screenshot(path=str(out / "runs-latent-prefs.png"), full_page=True)
        browser.close()


@pytest.mark.slow
def test_retry_a_failed_run(client, project, manager_user, tiny_model_dir):
    from workers import rationales
    from workers.models import ModelSpec
    from workers.tasks.rationales import generate_rationales
    from workers.tasks.runs import enqueue

    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    spec = wh.model_spec("/nonexistent/model")
    run = rationales.start_rationale_run(snap, spec, max_new_tokens=4)
    enqueue(generate_rationales, run)
    run.refresh_from_db()
    assert run.state == "failed"
    ModelSpec.objects.filter(pk=spec.pk).update(path_or_id=tiny_model_dir)  # the manager fixes the model path
    client.force_login(manager_user)
    assert b"Retry run" in client.get(reverse("workers:run", args=[project.pk, run.pk])).content
    client.post(reverse("workers:retry_run", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.state == "succeeded" and run.attempts == 2 and Rationale.objects.filter(run=run).count() == 2
    client.post(reverse("workers:retry_run", args=[project.pk, run.pk]))  # a succeeded run is not re-run
    run.refresh_from_db()
    assert run.attempts == 2


def test_edit_distance_on_runs_page(client, project, manager_user):
    from datetime import timedelta

    from django.utils import timezone

    from annotate.models import Annotation
    from tests import curation_data

    alice = curation_data.person(project, "alice")
    for day in range(2):
        item = factories.item(project, kind="edit", text_a="one two three four")
        a = curation_data.label(item, alice, edited_text="one two" if day else "five six seven eight")
        Annotation.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=1 - day))
    client.force_login(manager_user)
    page = client.get(reverse("workers:project_runs", args=[project.pk])).content.decode()
    assert "Mean edit distance per annotator" in page and "<td>alice</td>" in page
    assert 'aria-label="edit distance per day"' in page


# What each kind's service stores (params and final metrics), shaped as the services write them:
# several store an item count under "items", which a template's `metrics.items` used to shadow.
REALISTIC = {
    RunKind.JUDGE: (
        {"judge_ids": [1], "item_ids": None},
        {"judges": {"judge-a": {"ok": 40, "unparsed": 2, "skipped": 0, "swap_inconsistent": 3}}, "items": 42},
    ),
    RunKind.JUDGE_TRAINING: (
        {"judge_id": 1, "item_ids": [1, 2, 3]},
        {"judge": "emb", "training_items": 15, "labelled_pairs": 12, "train_accuracy": 1.0},
    ),
    RunKind.FEATURES: ({"item_ids": None}, {"items": 211}),
    RunKind.ROUTE: (
        {"budget": 0.3, "count": None, "strategy": "router", "human_route": "human", "recompute_features": False},
        {"routing_run": 7, "human": 63, "judge": 148, "timings": {"fit": 0.41}},
    ),
    RunKind.NOISE: (
        {"use_embeddings": True, "k": 10},
        {"noise_run": 3, "epsilon": 0.12, "epsilon_low": 0.08, "epsilon_high": 0.17, "items": 211},
    ),
    RunKind.RATIONALE: (
        {"snapshot_id": 1, "items": 46, "kinds": ["pairwise"]},
        {"rationales": 46, "items": 46, "model": "tiny"},
    ),
    RunKind.FINETUNE: (
        {},
        {
            "train_loss": 0.69,
            "steps": 4,
            "rows": {"kept": 20, "dropped": 0},
            "history": [{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.6}],
            "evaluation": {"accuracy": 0.5, "pairs": 4},
        },
    ),
    RunKind.GENERATE: ({"n": 3, "item_kind": "pairwise"}, {"created": 3, "responses": 6, "model": "tiny"}),
    RunKind.PREFERENCES: ({"items": 3}, {"preferences": 3, "model": "tiny"}),
    RunKind.DEDUPE: (
        {"threshold": 0.92},
        {"groups": [["a" * 64, "b" * 64]], "group_count": 1, "digest": "0123456789abcdef", "prompts": "2:2"},
    ),
    RunKind.GROUPS: ({"max_k": 4}, {"group_run": 1, "k": 2, "controversial": 5, "heldout": {"1": -0.69, "2": -0.61}}),
    RunKind.ERROR_TAGS: ({"judge": 1}, {"tagged": 6, "errors": 2, "failed": 0}),
    RunKind.BIAS_AUDIT: ({}, {"bias_audit": 4, "rows": 7, "items": 805}),
}


@pytest.mark.parametrize("state", ["running", "succeeded"])
def test_every_run_kind_has_a_detail_page(client, project, manager_user, state):
    """Walks RunKind, so a new kind without an entry above fails here until its page is checked."""
    assert set(REALISTIC) == set(RunKind), f"add realistic metrics for {set(RunKind) - set(REALISTIC)}"
    login(client, manager_user)
    for kind, (params, metrics) in REALISTIC.items():
        run = runs.create_run(kind, project=project, params=params)
        runs.claim_run(run.pk, worker="w1")
        if state == "succeeded":
            runs.finish_run(run, metrics=metrics)
        else:
            runs.update_metrics(run, **metrics)
        for url in (
            reverse("workers:run", args=[project.pk, run.pk]),
            reverse("workers:run_status", args=[project.pk, run.pk]),
        ):
            resp = client.get(url)
            assert resp.status_code == 200, (kind, url)
            page = resp.content.decode()
            shown = [k for k in metrics if k not in ("history", "evaluation")]
            assert all(f"<dt>{k}</dt>" in page for k in shown), (kind, url, shown)


@pytest.mark.slow  # a real noise run (MiniLM embeddings)
@pytest.mark.django_db(transaction=True)  # the run is sent on commit
def test_noise_button_reports_the_runs_real_state(client, project, manager_user):
    """The dashboard's message and badge say what became of the run (here it has already run, as it
    does in-process), never "queued" for a run that finished."""
    from tests import curation_data

    curation_data.labelled_project(project, pairs=6, binaries=0, edits=0, annotators=2)
    login(client, manager_user)
    page = client.post(reverse("curation:run_noise", args=[project.pk]), {}, follow=True).content.decode()
    run = TaskRun.objects.get(project=project, kind=RunKind.NOISE)
    assert run.state == "succeeded", run.error
    assert f"Noise estimation run {run.pk} succeeded." in page and "queued" not in page
    figures = client.get(reverse("curation:figures", args=[project.pk])).content.decode()  # the noise section's badge
    assert f"noise run {run.pk}: succeeded" in figures and "queued" not in figures
