"""The demo: a deterministic bundled dataset, loaded idempotently with working logins."""

import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from annotate.demo.generate import DATA_DIR, build
from annotate.models import Annotation, Item, Membership, Project, Prompt
from annotate.permissions import can_manage, visible_projects


def test_generator_is_deterministic_and_matches_bundled_files():
    first, second = build(), build()
    assert first == second
    for name, rows in first.items():
        bundled = [json.loads(line) for line in (DATA_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert bundled == rows, f"{name}.jsonl is stale: run python -m annotate.demo.generate"


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_complete(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    project = Project.objects.get(name="Demo")
    items = Item.objects.filter(project=project)
    counts = {kind: items.filter(kind=kind).count() for kind in ("pairwise", "binary", "edit")}
    assert sum(counts.values()) >= 200 and all(n >= 40 for n in counts.values()), counts
    assert Annotation.objects.filter(item__project=project, annotator__name="tandem-demo").count() >= 50
    prompts = Prompt.objects.filter(project=project)
    assert prompts.filter(messages__isnull=False).count() >= 5  # multi-turn
    assert prompts.filter(text__icontains="python").exists()
    assert items.filter(response_a__text__contains="```").count() >= 10  # code blocks
    before = (Item.objects.count(), Prompt.objects.count(), Annotation.objects.count())
    call_command("load_demo")
    assert (Item.objects.count(), Prompt.objects.count(), Annotation.objects.count()) == before
    assert "0 new" in capsys.readouterr().out
    from transformers import AutoModelForCausalLM

    from workers.models import ModelSpec

    spec = ModelSpec.objects.get(name="tiny-demo-llama")  # registered once, loadable offline
    assert AutoModelForCausalLM.from_pretrained(spec.path_or_id).config.model_type == "llama"


@pytest.mark.django_db
def test_demo_logins_and_roles(settings):
    settings.TANDEM_DEMO = True  # what ./tandem demo and the embedded default run with
    call_command("load_demo")
    project = Project.objects.get(name="Demo")
    admin = authenticate(username="admin", password="tandem-admin")
    manager = authenticate(username="manager", password="tandem-manager")
    ann1, ann2 = (authenticate(username=u, password="tandem-ann") for u in ("ann1", "ann2"))
    assert admin.is_superuser and manager.is_staff and not manager.is_superuser
    assert not ann1.is_staff and ann2 is not None
    assert can_manage(manager, project) and not can_manage(ann1, project)
    assert list(visible_projects(ann1)) == [project]
    assert Membership.objects.get(user=ann2, project=project).role == "annotator"
    assert manager.has_perm("annotate.change_project")


@pytest.mark.django_db
def test_load_demo_in_production_gives_random_passwords(settings, capsys, tmp_path):
    """Outside a local install (DEBUG off, not TANDEM_DEMO) no login gets a documented password."""
    settings.VAR_DIR = tmp_path
    settings.DEBUG, settings.TANDEM_DEMO = False, False
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "tandem-admin" not in out and "random passwords" in out
    printed = dict(pair.split("/", 1) for pair in out.split("shown only now): ", 1)[1].strip().split(", "))
    assert set(printed) == {"admin", "manager", "ann1", "ann2"}
    assert authenticate(username="admin", password="tandem-admin") is None
    assert authenticate(username="ann1", password="tandem-ann") is None
    assert authenticate(username="admin", password=printed["admin"]).is_superuser
    call_command("load_demo")  # again: passwords left alone, none printed
    assert "Logins unchanged" in capsys.readouterr().out
    assert authenticate(username="manager", password=printed["manager"]) is not None
