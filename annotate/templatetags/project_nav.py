"""The project tabs in the top bar: what an annotator or a manager can open for one project."""

from django import template
from django.urls import reverse

from annotate.permissions import can_manage

register = template.Library()


def project_links(user, project):
    links = [
        ("Overview", reverse("annotate:project", args=[project.pk])),
        ("Annotate", reverse("annotate:workspace", args=[project.pk])),
        ("My preferences", reverse("workers:latent_prefs", args=[project.pk])),
    ]
    if can_manage(user, project):
        links += [
            ("Gold", reverse("annotate:gold", args=[project.pk])),
            ("Routing", reverse("curation:routing", args=[project.pk])),
            ("Curation", reverse("curation:dashboard", args=[project.pk])),
            ("Runs", reverse("workers:project_runs", args=[project.pk])),
            ("Settings", reverse("annotate:project_settings", args=[project.pk])),
        ]
    return links


@register.inclusion_tag("_project_nav.html", takes_context=True)
def project_nav(context, project):
    request = context["request"]
    links = project_links(request.user, project)
    # The longest matching prefix is the current tab (Overview's URL prefixes all the others).
    current = max((url for _, url in links if request.path.startswith(url)), key=len, default=None)
    return {"project": project, "links": [(label, url, url == current) for label, url in links]}
