"""Issue 11: a fine-tune config is an allow-list of training fields with caps, and fine-tuned models
belong to their project. No training here: the checks run before anything is queued."""

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories
from tests import workers_helpers as wh
from workers import finetune, schedules
from workers.models import FineTuneRun, FineTuneSchedule, ModelSpec, TaskRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec(db):
    return wh.model_spec("/nonexistent/tiny")  # max_length 256


@pytest.mark.parametrize(
    "field, value",
    [
        ("push_to_hub", True),
        ("hub_model_id", "someone/stolen"),
        ("hub_token", "hf_x"),
        ("dataloader_num_workers", 64),
        ("torch_compile", True),
        ("report_to", "wandb"),
        ("deepspeed", "/etc/passwd"),
        ("logging_dir", "/tmp/x"),
    ],
)
def test_fields_outside_the_allow_list_are_refused_by_name(project, spec, field, value):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    with pytest.raises(finetune.ConfigError, match=f"^{field} is not a training field"):
        finetune.create_finetune(snap, spec, "dpo", config={"beta": 0.1, field: value})
    assert not FineTuneRun.objects.exists() and not TaskRun.objects.exists()


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num_train_epochs": 1e6}, "num_train_epochs must be at most 100"),
        ({"learning_rate": 0}, "learning_rate must be above 0"),
        ({"per_device_train_batch_size": 2.7}, "per_device_train_batch_size must be an integer"),
        ({"gradient_accumulation_steps": True}, "gradient_accumulation_steps must be an integer"),
        ({"per_device_train_batch_size": 100000}, "at most 1024"),
        ({"max_length": 4096}, "at most the model's max_length 256"),
        ({"max_length": 128, "max_prompt_length": 128}, "max_prompt_length must be below max_length"),
        ({"beta": float("nan")}, "beta must be a number"),
        ({"lr_scheduler_type": "reduce_lr_on_plateau"}, "lr_scheduler_type must be one of"),
        ({"loss_type": "hinge"}, "loss follows the method"),
        ({"output_dir": "/"}, "output directory is the run's"),
    ],
)
def test_caps(project, spec, config, message):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    with pytest.raises(finetune.ConfigError, match=message):
        finetune.create_finetune(snap, spec, "dpo", config=config)


def test_allowed_fields_reach_trl_and_method_fields_stay_with_their_method(project, spec):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    ft = finetune.create_finetune(
        snap,
        spec,
        "dpo",
        config={
            "beta": 0.3,
            "learning_rate": 1e-4,
            "num_train_epochs": 2,
            "max_length": 128,
            "max_prompt_length": 64,
            "seed": 7,
        },
    )
    cfg = finetune.trl_config(ft, "/tmp/x")
    assert (cfg.beta, cfg.learning_rate, cfg.num_train_epochs, cfg.max_length, cfg.seed) == (0.3, 1e-4, 2.0, 128, 7)
    assert cfg.push_to_hub is False and cfg.hub_token is None and cfg.dataloader_num_workers == 0
    with pytest.raises(finetune.ConfigError, match="beta does not apply to reward"):
        finetune.create_finetune(snap, spec, "reward", config={"beta": 0.1})
    with pytest.raises(finetune.ConfigError, match="desirable_weight does not apply to dpo"):
        finetune.create_finetune(snap, spec, "dpo", config={"desirable_weight": 2.0})


def test_rationale_gamma_is_tandems_field_for_dpo_rationale_only(project, spec):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    ft = finetune.create_finetune(snap, spec, "dpo_rationale", config={"rationale_gamma": 0.5, "beta": 0.2})
    cfg = finetune.trl_config(ft, "/tmp/x")
    assert cfg.loss_type == ["sigmoid"] and cfg.beta == 0.2 and not hasattr(cfg, "rationale_gamma")
    with pytest.raises(finetune.ConfigError, match="rationale_gamma must be at most 100"):
        finetune.create_finetune(snap, spec, "dpo_rationale", config={"rationale_gamma": 1000})
    with pytest.raises(finetune.ConfigError, match="rationale_gamma does not apply to reward"):
        finetune.create_finetune(snap, spec, "reward", config={"rationale_gamma": 0.5})


def test_lora_allow_list(project, spec):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    ft = finetune.create_finetune(snap, spec, "dpo", lora={"r": 4, "target_modules": ["q_proj"]})
    assert finetune.lora_config(ft).r == 4
    for lora, message in (
        ({"r": 4, "modules_to_save": ["lm_head"]}, "LoRA field modules_to_save is not accepted"),
        ({"r": 100000}, "r must be at most 512"),
        ({"target_modules": "x" * 200}, "target_modules must be"),
    ):
        with pytest.raises(finetune.ConfigError, match=message):
            finetune.create_finetune(snap, spec, "dpo", lora=lora)


def test_the_form_names_the_refused_field_and_queues_nothing(project, spec, manager_user):
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    c = Client()
    c.force_login(manager_user)
    r = c.post(
        reverse("workers:start_finetune", args=[project.pk]),
        {
            "snapshot": snap.pk,
            "model_spec": spec.pk,
            "method": "dpo",
            "config": '{"beta": 0.1, "hub_token": "hf_secret"}',
            "lora": "",
            "noise_weighting": "none",
            "noise_threshold": 0.5,
        },
    )
    assert r.status_code == 400
    assert "hub_token is not a training field" in " ".join(r.context["finetune_form"].errors["config"])
    assert not TaskRun.objects.exists()


def test_a_schedule_cannot_carry_a_refused_field(project, spec):
    schedule = FineTuneSchedule(
        project=project, name="nightly", model_spec=spec, method="dpo", config={"torch_compile": True}
    )
    with pytest.raises(finetune.ConfigError, match="torch_compile is not a training field"):
        schedules.save_schedule(schedule)
    assert not FineTuneSchedule.objects.exists()


def test_fine_tuned_models_stay_in_their_project(project, spec, manager_user):
    """Issue 11: `run-<id>-…` models were global, listed and accepted in every project's forms."""
    from workers.forms import FineTuneForm, GenerationForm, RationaleForm, ScheduleForm

    other = factories.project()
    factories.user("mgr-b", project=other, role="manager")
    theirs = ModelSpec.objects.create(name="run-999-dpo", path_or_id="/nonexistent/run-999", project=other)
    for form in (FineTuneForm(project), RationaleForm(project), GenerationForm(project), ScheduleForm(project)):
        names = set(form.fields["model_spec"].queryset.values_list("name", flat=True))
        assert spec.name in names and theirs.name not in names, type(form).__name__
    assert theirs.name in set(FineTuneForm(other).fields["model_spec"].queryset.values_list("name", flat=True))

    c = Client()
    c.force_login(manager_user)
    page = c.get(reverse("workers:project_runs", args=[project.pk])).content.decode()
    assert spec.name in page and theirs.name not in page
    snap = wh.snapshot(project, pairs=2, binary=0, edits=0)
    r = c.post(
        reverse("workers:start_finetune", args=[project.pk]),
        {
            "snapshot": snap.pk,
            "model_spec": theirs.pk,
            "method": "dpo",
            "config": "",
            "lora": "",
            "noise_weighting": "none",
            "noise_threshold": 0.5,
        },
    )
    assert r.status_code == 400 and "model_spec" in r.context["finetune_form"].errors
    assert c.post(reverse("workers:start_preferences", args=[project.pk]), {"model_spec": theirs.pk}).status_code == 404
    assert not TaskRun.objects.exists()
    with pytest.raises(finetune.ConfigError, match="belongs to another project"):
        finetune.create_finetune(snap, theirs, "dpo")


def test_a_schedule_cannot_use_another_projects_model(project, spec):
    other = factories.project()
    theirs = ModelSpec.objects.create(name="run-998-dpo", path_or_id="/nonexistent/run-998", project=other)
    with pytest.raises(finetune.ConfigError, match="belongs to another project"):
        schedules.save_schedule(FineTuneSchedule(project=project, name="nightly", model_spec=theirs, method="dpo"))
    mine = ModelSpec.objects.create(name="run-997-dpo", path_or_id="/nonexistent/run-997", project=project)
    assert schedules.save_schedule(FineTuneSchedule(project=project, name="nightly", model_spec=mine, method="dpo")).pk
