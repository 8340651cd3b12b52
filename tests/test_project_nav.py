"""The project tabs in the top bar: annotators get their tabs, managers also the curation ones."""

import re

import pytest
from django.urls import reverse


def tabs(html):
    nav = re.search(r"<nav>(.*?)</nav>", html, re.S).group(1)
    return re.findall(r'<a href="[^"]+"( class="active")?[^>]*>([^<]+)</a>', nav)


@pytest.mark.django_db
def test_annotator_sees_only_annotation_tabs(client, project, annotator_user):
    client.force_login(annotator_user)
    html = client.get(reverse("workers:latent_prefs", args=[project.pk])).content.decode()
    assert [label for _, label in tabs(html)] == ["Overview", "Annotate", "My preferences"]
    assert ' class="active"' in {label: active for active, label in tabs(html)}["My preferences"]


@pytest.mark.django_db
def test_manager_gets_curation_tabs_with_the_current_one_marked(client, project, manager_user):
    client.force_login(manager_user)
    html = client.get(reverse("curation:routing", args=[project.pk])).content.decode()
    found = tabs(html)
    assert [label for _, label in found] == [
        "Overview",
        "Annotate",
        "My preferences",
        "Gold",
        "Routing",
        "Curation",
        "Runs",
        "Settings",
    ]
    assert [label for active, label in found if active] == ["Routing"]
