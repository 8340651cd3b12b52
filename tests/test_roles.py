"""Role isolation. Annotators see only projects they belong to and get 404 (never 403, which would
confirm the project exists) on every other project's URL; managers curate only their own projects;
admins see everything. Project URLs are found by walking the URLconf, so pages added later are
covered too."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotate.permissions import can_annotate, can_manage, managed_projects, visible_projects
from tests import factories

pytestmark = pytest.mark.django_db
PROJECT_ONLY = re.compile(r"<(?:int:)?project_id>")


def project_urls():
    """Every non-admin route whose only parameter is the project id, as a format string."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and not route.startswith(("admin/", "^admin/")):
                params = re.findall(r"<[^>]+>", route)
                if params and all(PROJECT_ONLY.fullmatch(x) for x in params):
                    found.append("/" + PROJECT_ONLY.sub("{}", route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many users, none log in by password


@pytest.fixture
def two_projects():
    mine, theirs = factories.project(name="Mine"), factories.project(name="Theirs")
    factories.item(mine)
    factories.item(theirs)
    return mine, theirs


def test_there_are_project_urls_to_check():
    assert "/p/{}/" in project_urls()
    assert {"/p/{}/curation/", "/p/{}/routing/", "/p/{}/runs/", "/p/{}/preferences/"} <= set(
        MANAGER_PAGES + project_urls()
    )


def all_routes():
    """Every non-admin route of the URLconf as (route, fully qualified name)."""
    found = []

    def walk(patterns, prefix, namespace):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                inner = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, route, inner)
            elif not route.startswith(("admin/", "^admin/")):
                found.append((route, f"{namespace}{p.name}"))

    walk(get_resolver().url_patterns, "", "")
    return found


def test_every_project_page_lives_under_its_project():
    """One scheme: a page that takes a project (directly, or through a run, schedule, item...) is at
    /p/<project_id>/...; only the REST API, with its own scheme, lives elsewhere (under /api/)."""
    pages = [(r, n) for r, n in all_routes() if not r.startswith("api/")]
    scoped = [(r, n) for r, n in pages if "project_id" in r]
    assert len(scoped) > 50
    assert all(r.startswith("p/<int:project_id>/") for r, _ in scoped), [r for r, _ in scoped]
    # Pages outside a project: the project list, a new project, an invite, logging in and out.
    assert sorted(n for r, n in pages if "project_id" not in r) == [
        "annotate:home",
        "annotate:invite_accept",
        "annotate:project_new",
        "login",
        "logout",
    ]


def test_every_route_is_named_in_an_app_namespace_in_one_style():
    for route, name in all_routes():
        assert re.fullmatch(r"(?:(?:annotate|annotate_api|curation|workers|api|runs_api):)?[a-z][a-z0-9_]*", name), (
            route,
            name,
        )
        assert ":" in name or name in ("login", "logout", "api_schema"), (route, name)


def test_annotator_sees_only_member_projects(client, two_projects):
    mine, theirs = two_projects
    user = factories.user("ann-x", project=mine)
    assert list(visible_projects(user)) == [mine] and list(managed_projects(user)) == []
    assert can_annotate(user, mine) and not can_annotate(user, theirs) and not can_manage(user, mine)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Mine" in html and "Theirs" not in html


@pytest.mark.parametrize("url", project_urls())
def test_other_projects_urls_are_404_for_annotators(client, two_projects, url):
    mine, theirs = two_projects
    client.force_login(factories.user("ann-y", project=mine))
    for method in (client.get, client.post):
        status = method(url.format(theirs.pk)).status_code
        assert status in (404, 405), f"{method.__name__.upper()} {url.format(theirs.pk)} gave {status}"
    assert client.get(url.format(999_999)).status_code in (404, 405)


@pytest.mark.parametrize("url", project_urls())
def test_other_projects_urls_are_404_for_managers_of_another_project(client, two_projects, url):
    mine, theirs = two_projects
    client.force_login(factories.user("mgr-y", project=mine, role="manager"))
    for method in (client.get, client.post):
        assert method(url.format(theirs.pk)).status_code in (404, 405)


MANAGER_PAGES = [
    u
    for u in project_urls()
    if u.startswith(("/p/{}/curation/", "/p/{}/routing/", "/p/{}/runs/", "/p/{}/settings/", "/p/{}/preferences/run/"))
]


@pytest.mark.parametrize("url", MANAGER_PAGES)
def test_curation_and_run_pages_are_closed_to_annotators_of_the_project(client, two_projects, url):
    mine, _ = two_projects
    client.force_login(factories.user("ann-m", project=mine))
    for method in (client.get, client.post):
        status = method(url.format(mine.pk)).status_code
        assert status in (403, 404, 405), (
            f"{method.__name__.upper()} {url.format(mine.pk)} gave {status} to an annotator"
        )


def test_manager_curates_only_own_projects(client, two_projects):
    mine, theirs = two_projects
    manager = factories.user("mgr-z", project=mine, role="manager")
    factories.user("plain", project=theirs)
    member_elsewhere = factories.user("mixed", project=mine, role="manager")
    from annotate.models import Membership

    Membership.objects.create(project=theirs, user=member_elsewhere, role="annotator")
    assert list(managed_projects(manager)) == [mine]
    assert can_manage(member_elsewhere, mine) and not can_manage(member_elsewhere, theirs)
    assert can_annotate(member_elsewhere, theirs)
    # In the admin, a staff manager lists and opens only the projects they manage.
    from django.contrib.auth.models import Permission

    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["view_project", "change_project"]))
    client.force_login(manager)
    listing = client.get("/admin/annotate/project/").content.decode()
    assert "Mine" in listing and "Theirs" not in listing
    assert client.get(f"/admin/annotate/project/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/annotate/project/{theirs.pk}/change/").status_code == 302  # "doesn't exist" redirect
    assert client.get(f"/admin/annotate/project/{theirs.pk}/import/").status_code == 404


def test_admin_sees_and_manages_everything(client, two_projects, admin_user):
    mine, theirs = two_projects
    assert set(visible_projects(admin_user)) == set(managed_projects(admin_user)) == {mine, theirs}
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert "Mine" in html and "Theirs" in html
    for project in two_projects:
        assert client.get(reverse("annotate:project", args=[project.pk])).status_code == 200
        assert client.get(f"/admin/annotate/project/{project.pk}/import/").status_code == 200
    listing = client.get("/admin/annotate/project/").content.decode()
    assert "Mine" in listing and "Theirs" in listing


def test_anonymous_is_sent_to_login(client, two_projects):
    mine, _ = two_projects
    response = client.get(reverse("annotate:project", args=[mine.pk]))
    assert response.status_code == 302 and "/login/" in response.url
