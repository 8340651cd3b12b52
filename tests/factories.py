"""Plain builders for test data (no fixtures magic, so tests read top to bottom)."""

import itertools

from django.contrib.auth import get_user_model

from annotate.content import prompt_hash
from annotate.models import Annotator, AnnotatorKind, Item, Membership, Project, Prompt, Response

_seq = itertools.count(1)


def project(name=None, **fields):
    fields.setdefault("principles", ["Be honest", "Be harmless", "Follow the instructions"])
    return Project.objects.create(name=name or f"project-{next(_seq)}", **fields)


def user(username=None, project=None, role="annotator", superuser=False, password="pw-123456"):
    username = username or f"user-{next(_seq)}"
    User = get_user_model()
    if superuser:
        u = User.objects.create_superuser(username=username, password=password, email=f"{username}@example.org")
    else:
        u = User.objects.create_user(username=username, password=password)
    if project is not None:
        Membership.objects.create(project=project, user=u, role=role)
    return u


def human(u):
    annotator, _ = Annotator.objects.get_or_create(
        user=u, defaults={"kind": AnnotatorKind.HUMAN, "name": u.get_username()}
    )
    return annotator


def prompt(project, text=None, messages=None):
    text = text or f"Question {next(_seq)}: explain something."
    return Prompt.objects.create(
        project=project, text=text, messages=messages, content_hash=prompt_hash(text, messages)
    )


def item(project, kind="pairwise", text_a="Answer A", text_b="Answer B", prompt_obj=None, **fields):
    p = prompt_obj or prompt(project)
    a = Response.objects.create(prompt=p, text=text_a, model_name="model-a")
    b = Response.objects.create(prompt=p, text=text_b, model_name="model-b") if kind == "pairwise" else None
    return Item.objects.create(project=project, prompt=p, kind=kind, response_a=a, response_b=b, **fields)
