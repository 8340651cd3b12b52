"""Creating and configuring projects in the app: settings, members and their roles, invites.

Who may do what:
- create a project: superusers and staff users (`can_create_projects`); the creator becomes its
  first manager, so a staff user without other rights manages only what they created;
- change a project's settings, members and invites: its managers and admins (the views go
  through `permissions.project_for_manager`);
- a project always keeps at least one manager: the last one cannot be removed or demoted.

Invites are random keys of which only a SHA-256 hash is stored (like export tokens): the link is
shown once. Accepting is idempotent for someone already a member (their role is kept).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotate.errors import Invalid
from annotate.models import Invite, Membership, Project, Role


class ProjectError(Invalid):
    """A change refused, with a message for the person who asked."""


@dataclass
class NewInvite:
    invite: Invite
    key: str  # shown once; only its hash is stored


@dataclass
class Joined:
    membership: Membership
    created: bool  # False: already a member, role unchanged


def lock_project(project: Project) -> None:
    """Serialise one project's writers (snapshot versions, routing runs, the calibration slice, an
    annotator's lease on SQLite) until the current transaction ends. PostgreSQL: the row's FOR NO
    KEY UPDATE lock, which conflicts with itself but not with inserts that reference the project.
    SQLite: the database write lock, taken now by a no-op update (a read would not take it)."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_project needs a transaction: the lock ends with it")
    if connection.features.has_select_for_update:
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    else:
        Project.objects.filter(pk=project.pk).update(lease_minutes=F("lease_minutes"))


def can_create_projects(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or user.is_staff))


@transaction.atomic
def create_project(user: User, fields: dict[str, Any]) -> Project:
    """A new project with `fields` (validated by the form) and `user` as its first manager."""
    if not can_create_projects(user):
        raise ProjectError("only staff and admins may create projects")
    project = Project(**fields)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    return project


def _managers(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project, role=Role.MANAGER)


def find_user(identifier: str) -> User:
    """The active user with this username or e-mail address (case-insensitive), or ProjectError."""
    identifier = identifier.strip()
    if not identifier:
        raise ProjectError("give a username or an e-mail address")
    matches = list(
        get_user_model().objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier), is_active=True)[
            :2
        ]
    )
    if not matches:
        raise ProjectError(f"no active user with the username or e-mail {identifier!r}")
    if len(matches) > 1:
        raise ProjectError(f"{identifier!r} matches more than one user; use the username")
    return matches[0]


def add_member(project: Project, identifier: str, role: str) -> Membership:
    user = find_user(identifier)
    if role not in Role.values:
        raise ProjectError(f"unknown role {role!r}")
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:
        raise ProjectError(f"{user.get_username()} is already a member; change their role in the list") from None


@transaction.atomic
def change_role(project: Project, membership_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise ProjectError(f"unknown role {role!r}")
    membership = Membership.objects.select_for_update().filter(project=project, pk=membership_id).first()
    if membership is None:
        raise ProjectError("no such member")
    # Lock every manager row: two managers demoting each other at once must not leave none.
    managers = list(_managers(project).select_for_update().values_list("pk", flat=True))
    if membership.role == Role.MANAGER and role != Role.MANAGER and managers == [membership.pk]:
        raise ProjectError("a project keeps at least one manager: make someone else manager first")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(project: Project, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update().select_related("user").filter(project=project, pk=membership_id).first()
    )
    if membership is None:
        raise ProjectError("no such member")
    managers = list(_managers(project).select_for_update().values_list("pk", flat=True))
    if membership.role == Role.MANAGER and managers == [membership.pk]:
        raise ProjectError("a project keeps at least one manager: make someone else manager first")
    membership.delete()
    return membership


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_invite(project: Project, user: User, role: str, days: int, single_use: bool = True) -> NewInvite:
    if role not in Role.values:
        raise ProjectError(f"unknown role {role!r}")
    key = secrets.token_urlsafe(24)
    invite = Invite.objects.create(
        project=project,
        role=role,
        key_hash=hash_key(key),
        prefix=key[:6],
        single_use=single_use,
        expires_at=timezone.now() + timedelta(days=days),
        created_by=user,
    )
    return NewInvite(invite, key)


def invite_refusal(invite: Invite, now: datetime | None = None) -> str:
    """Why the invite no longer works ("" when it does)."""
    now = now or timezone.now()
    if invite.revoked_at:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    if invite.single_use and invite.uses:
        return "already used"
    return ""


def find_invite(key: str) -> Invite | None:
    return Invite.objects.select_related("project").filter(key_hash=hash_key(key or "")).first()


@transaction.atomic
def accept_invite(user: User, key: str) -> Joined:
    """Join the invite's project with its role. Someone already a member keeps their role (an
    invite never demotes a manager) and does not use up a single-use invite."""
    invite = Invite.objects.select_for_update().select_related("project").filter(key_hash=hash_key(key or "")).first()
    if invite is None:
        raise ProjectError("this invite link is not valid")
    existing = Membership.objects.filter(project=invite.project, user=user).first()
    if existing is not None:
        return Joined(existing, created=False)
    refusal = invite_refusal(invite)
    if refusal:
        raise ProjectError(f"this invite can no longer be used: {refusal}")
    membership = Membership.objects.create(project=invite.project, user=user, role=invite.role)
    invite.uses += 1
    invite.save(update_fields=["uses"])
    return Joined(membership, created=True)


def revoke_invite(project: Project, invite_id: int) -> bool:
    return bool(
        Invite.objects.filter(project=project, pk=invite_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
