"""Home and project pages."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render

from annotate import queue
from annotate.models import HUMAN_ROUTES, Role
from annotate.permissions import can_manage, is_admin, project_for_annotator, visible_projects
from annotate.projects import can_create_projects


@login_required
def home(request):
    projects = visible_projects(request.user).annotate(
        item_count=Count("items", distinct=True),
        human_items=Count("items", filter=Q(items__routing__in=HUMAN_ROUTES, items__is_gold=False), distinct=True),
    )
    managed = set(request.user.memberships.filter(role=Role.MANAGER).values_list("project_id", flat=True))
    annotator = queue.request_annotator(request)
    cards = []
    for project in projects:
        cards.append(
            {
                "project": project,
                "progress": queue.progress(project, annotator),
                "is_manager": is_admin(request.user) or project.pk in managed,
            }
        )
    return render(request, "annotate/home.html", {"cards": cards, "can_create": can_create_projects(request.user)})


@login_required
def project_page(request, project_id):
    project = project_for_annotator(request.user, project_id)
    annotator = queue.request_annotator(request)
    kinds = dict(project.items.values_list("kind").annotate(n=Count("id")))
    return render(
        request,
        "annotate/project.html",
        {
            "project": project,
            "progress": queue.progress(project, annotator),
            "kinds": kinds,
            "is_manager": can_manage(request.user, project),
        },
    )
