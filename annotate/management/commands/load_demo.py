"""manage.py load_demo — the "Demo" project with the bundled dataset and four logins. Idempotent:
running it again adds nothing (imports deduplicate) and leaves changed passwords alone.

The documented passwords (admin/tandem-admin, ...) are set only on a local install (TANDEM_DEMO,
which the embedded default and `./tandem demo` are) or with DEBUG on. Anywhere else the logins it
creates get random passwords, printed once."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from annotate.demo.generate import DATA_DIR
from annotate.imports import import_items
from annotate.models import Item, Membership, Project, Role
from workers.ml.tiny_models import build_tiny_causal_lm
from workers.models import ModelSpec

PROJECT = "Demo"
DEMO_MODEL = "tiny-demo-llama"
SOURCE = "tandem-demo"
USERS = [
    # username, password, superuser, staff, role in Demo
    ("admin", "tandem-admin", True, True, None),
    ("manager", "tandem-manager", False, True, Role.MANAGER),
    ("ann1", "tandem-ann", False, False, Role.ANNOTATOR),
    ("ann2", "tandem-ann", False, False, Role.ANNOTATOR),
]
FILES = [
    ("pairs.jsonl", None),
    ("hh.jsonl", None),
    ("completions.jsonl", None),
    ("binary.jsonl", None),
    ("conversations.jsonl", None),
    ("edit.jsonl", "edit"),
]
INSTRUCTIONS = """\
Welcome to the Tandem demo.

- **Pairwise**: read both responses and say which is better, and by how much. Judge correctness first,
  then helpfulness, then style. A safe, helpful refusal beats harmful compliance; an unnecessary refusal
  of a harmless request is a failure.
- **Binary**: thumbs up if you would be happy to send this response as is; otherwise thumbs down and tick
  the principles it fails.
- **Edit**: fix the response with the smallest edit that makes it correct, concise and polite.
"""
PRINCIPLES = ["Is correct", "Answers the question asked", "Is concise", "Is safe without over-refusing", "Is polite"]
# What a project manager may do in the admin; which projects they see is limited to their own.
MANAGER_PERMISSIONS = [
    "view_project",
    "change_project",
    "view_membership",
    "add_membership",
    "change_membership",
    "delete_membership",
]


class Command(BaseCommand):
    help = "Create the Demo project, its users and load the bundled demo dataset (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        project, created = Project.objects.get_or_create(
            name=PROJECT,
            defaults={
                "instructions": INSTRUCTIONS,
                "overlap": 2,
                "principles": PRINCIPLES,
                "pair_strategy": "best_worst",
            },
        )
        managers, _ = Group.objects.get_or_create(name="Project managers")
        managers.permissions.add(
            *Permission.objects.filter(content_type__app_label="annotate", codename__in=MANAGER_PERMISSIONS)
        )
        User = get_user_model()
        documented = settings.TANDEM_DEMO or settings.DEBUG
        created_logins = []
        for username, password, superuser, staff, role in USERS:
            user, new = User.objects.get_or_create(
                username=username,
                defaults={"is_superuser": superuser, "is_staff": staff, "email": f"{username}@example.org"},
            )
            if new:
                password = password if documented else secrets.token_urlsafe(12)
                user.set_password(password)
                user.save()
                created_logins.append(f"{username}/{password}")
            if role:
                Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
            if role == Role.MANAGER:
                user.groups.add(managers)
        before = Item.objects.filter(project=project).count()
        for name, as_kind in FILES:
            result = import_items(project, DATA_DIR / name, source=SOURCE, as_kind=as_kind)
            self.stdout.write(f"  {result.summary()}")
        self.register_demo_model()
        total = Item.objects.filter(project=project).count()
        logins = (
            ("Logins: " + ", ".join(f"{u}/{p}" for u, p, *_ in USERS))
            if documented
            else (
                "New logins (random passwords, shown only now): " + ", ".join(created_logins)
                if created_logins
                else "Logins unchanged"
            )
        )
        self.stdout.write(self.style.SUCCESS(f'Project "{PROJECT}": {total} items ({total - before} new). {logins}'))

    def register_demo_model(self):
        """A tiny Llama built locally (no download), registered so the fine-tune, rationale and
        generation forms have a model to run on CPU in seconds. Its text is gibberish: register a
        real model (ModelSpec, any `from_pretrained` path or hub id) for real work."""

        path = settings.VAR_DIR / "models" / DEMO_MODEL
        if not (path / "config.json").exists():
            build_tiny_causal_lm(path)
        ModelSpec.objects.get_or_create(name=DEMO_MODEL, defaults={"path_or_id": str(path), "max_length": 256})
