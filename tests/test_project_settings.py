"""Creating and configuring a project in the app: who may, what is saved (lists one per line, no
JSON), members and roles (a project keeps a manager), invite links (hashed, single-use, expiring)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate import projects
from annotate.models import Invite, Membership, Project
from tests import factories

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Coding help",
    "instructions": "Prefer **correct** code.",
    "feedback_kinds": ["pairwise", "binary"],
    "aspects": "helpfulness\n  correctness  \n\nhelpfulness\n",
    "principles": "Be honest\nCite sources",
    "overlap": "3",
    "queue_order": "depth",
    "pair_strategy": "all_pairs",
    "gold_rate": "0.1",
    "human_budget": "0.5",
    "lease_minutes": "15",
}


def test_staff_and_admins_create_projects_and_become_their_manager(client):
    plain = factories.user("plain")
    client.force_login(plain)
    assert client.get(reverse("annotate:project_new")).status_code == 403
    assert client.post(reverse("annotate:project_new"), SETTINGS).status_code == 403 and not Project.objects.exists()
    assert "New project" not in client.get("/").content.decode()

    staff = factories.user("staffer")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert 'id="new-project"' in client.get("/").content.decode()
    page = client.get(reverse("annotate:project_new")).content.decode()
    assert "A much better" in page and "B much better" in page  # the fixed scale is shown
    assert 'name="overlap" value="1"' in page and 'value="pairwise"' in page and "checked" in page  # the defaults
    r = client.post(reverse("annotate:project_new"), SETTINGS)
    project = Project.objects.get(name="Coding help")
    assert r.status_code == 302 and r.url == reverse("annotate:project_settings", args=[project.pk])
    assert project.aspects == ["helpfulness", "correctness"] and project.principles == ["Be honest", "Cite sources"]
    assert project.feedback_kinds == ["pairwise", "binary"] and project.overlap == 3 and project.gold_rate == 0.1
    assert (
        project.human_budget == 0.5
        and project.pair_strategy == "all_pairs"
        and project.instructions.startswith("Prefer")
    )
    assert (
        Membership.objects.get(project=project).user == staff
        and Membership.objects.get(project=project).role == "manager"
    )
    assert client.get(reverse("annotate:project_settings", args=[project.pk])).status_code == 200


def test_bad_settings_are_refused_and_nothing_changes(client, project, manager_user):
    client.force_login(manager_user)
    before = Project.objects.get(pk=project.pk)
    for bad in (
        {"feedback_kinds": []},
        {"feedback_kinds": ["pairwise", "essay"]},
        {"overlap": "0"},
        {"gold_rate": "1.5"},
        {"human_budget": "-0.1"},
        {"name": ""},
        {"aspects": "x" * 600},
    ):
        r = client.post(reverse("annotate:project_settings", args=[project.pk]), {**SETTINGS, **bad})
        assert r.status_code == 400, bad
        assert 'class="error"' in r.content.decode()
    after = Project.objects.get(pk=project.pk)
    assert (after.name, after.aspects, after.overlap, after.feedback_kinds) == (
        before.name,
        before.aspects,
        before.overlap,
        before.feedback_kinds,
    )
    r = client.post(reverse("annotate:project_settings", args=[project.pk]), SETTINGS)
    assert r.status_code == 302
    project.refresh_from_db()
    assert project.name == "Coding help" and project.aspects == ["helpfulness", "correctness"]
    page = client.get(reverse("annotate:project_settings", args=[project.pk])).content.decode()
    assert "helpfulness\ncorrectness</textarea>" in page  # lists come back one per line, not as JSON
    assert '["' not in page


def test_settings_are_for_the_projects_managers_only(client, project, annotator_user):
    client.force_login(annotator_user)
    assert client.get(reverse("annotate:project_settings", args=[project.pk])).status_code == 403
    assert client.post(reverse("annotate:project_settings", args=[project.pk]), SETTINGS).status_code == 403
    client.force_login(factories.user("stranger"))
    assert client.get(reverse("annotate:project_settings", args=[project.pk])).status_code == 404
    project.refresh_from_db()
    assert project.name != "Coding help"


def test_members_added_by_username_or_email_role_changed_and_removed(client, project, manager_user):
    client.force_login(manager_user)
    bob = factories.user("bob")
    bob.email = "Bob@Example.org"
    bob.save()
    base = reverse("annotate:member_add", args=[project.pk])
    assert client.post(base, {"identifier": "bob@example.org", "role": "annotator"}).status_code == 302
    m = Membership.objects.get(project=project, user=bob)
    assert m.role == "annotator"
    r = client.post(base, {"identifier": "bob", "role": "manager"})
    assert r.status_code == 400 and "already a member" in r.content.decode()
    r = client.post(base, {"identifier": "nobody", "role": "annotator"})
    assert r.status_code == 400 and "no active user" in r.content.decode()
    client.post(f"{base}{m.pk}/", {"role": "manager"})
    m.refresh_from_db()
    assert m.role == "manager"
    client.post(f"{base}{m.pk}/", {"remove": "1"})
    assert not Membership.objects.filter(pk=m.pk).exists()


def test_the_last_manager_cannot_be_removed_or_demoted(client, project, manager_user):
    client.force_login(manager_user)
    mine = Membership.objects.get(project=project, user=manager_user)
    client.post(reverse("annotate:member_change", args=[project.pk, mine.pk]), {"role": "annotator"})
    client.post(reverse("annotate:member_change", args=[project.pk, mine.pk]), {"remove": "1"})
    mine.refresh_from_db()
    assert mine.role == "manager"
    with pytest.raises(projects.ProjectError, match="at least one manager"):
        projects.remove_member(project, mine.pk)
    other = factories.user("other-project-member", project=factories.project(), role="annotator")
    theirs = Membership.objects.get(user=other)
    with pytest.raises(projects.ProjectError, match="no such member"):  # another project's membership
        projects.remove_member(project, theirs.pk)


def test_invite_link_joins_once_with_its_role(client, project, manager_user):
    client.force_login(manager_user)
    r = client.post(
        reverse("annotate:invite_create", args=[project.pk]),
        {"role": "annotator", "expires_in_days": "7", "single_use": "on"},
    )
    html = r.content.decode()
    url = html.split('id="invite-url"')[0].rsplit('value="', 1)[1].split('"')[0]
    key = url.rstrip("/").rsplit("/", 1)[1]
    assert r["Cache-Control"] == "no-store" and Invite.objects.get().key_hash == projects.hash_key(key)
    assert key not in client.get(reverse("annotate:project_settings", args=[project.pk])).content.decode()  # shown once

    carol = factories.user("carol")
    client.force_login(carol)
    page = client.get(reverse("annotate:invite_accept", args=[key])).content.decode()
    assert "as <b>annotator</b>" in page and not Membership.objects.filter(user=carol).exists()  # GET changes nothing
    r = client.post(reverse("annotate:invite_accept", args=[key]))
    assert r.status_code == 302 and r.url == reverse("annotate:project", args=[project.pk])
    assert Membership.objects.get(user=carol, project=project).role == "annotator"
    assert (
        client.post(reverse("annotate:invite_accept", args=[key])).status_code == 302
    )  # again: already a member, no error, no second use
    assert Invite.objects.get().uses == 1

    dave = factories.user("dave")
    client.force_login(dave)
    assert client.get(reverse("annotate:invite_accept", args=[key])).status_code == 404
    r = client.post(reverse("annotate:invite_accept", args=[key]))
    assert (
        r.status_code == 404
        and "already used" in r.content.decode()
        and not Membership.objects.filter(user=dave).exists()
    )
    assert client.post(reverse("annotate:invite_accept", args=["not-a-key"])).status_code == 404


def test_invites_expire_and_can_be_revoked_and_never_demote(client, project, manager_user):
    many = projects.create_invite(project, manager_user, "annotator", days=1, single_use=False)
    users = [factories.user(f"u{i}") for i in range(2)]
    for u in users:
        assert projects.accept_invite(u, many.key).created
    assert projects.accept_invite(manager_user, many.key).membership.role == "manager"  # a manager stays one
    Invite.objects.filter(pk=many.invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(projects.ProjectError, match="expired"):
        projects.accept_invite(factories.user("late"), many.key)
    fresh = projects.create_invite(project, manager_user, "manager", days=7)
    client.force_login(manager_user)
    client.post(reverse("annotate:invite_revoke", args=[project.pk, fresh.invite.pk]))
    with pytest.raises(projects.ProjectError, match="revoked"):
        projects.accept_invite(factories.user("too-late"), fresh.key)
    # Another project's manager cannot revoke this project's invite.
    other = factories.user("mgr-else", project=factories.project(), role="manager")
    live = projects.create_invite(project, manager_user, "annotator", days=7)
    client.force_login(other)
    assert client.post(reverse("annotate:invite_revoke", args=[project.pk, live.invite.pk])).status_code == 404
    assert Invite.objects.get(pk=live.invite.pk).revoked_at is None
