"""Roles. Admin: a superuser, every project. Project manager: curates the projects they manage.
Annotator: sees and labels only the projects they are a member of."""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from psycopg.sql import SQL, Composable, Identifier

from annotate.models import Membership, Project, Role
from annotate.rows import first, table

AnyUser = User | AnonymousUser  # request.user, signed in or not


def is_admin(user: AnyUser) -> bool:
    return user.is_active and user.is_superuser


def visible_projects(user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(Exists(Membership.objects.filter(project=OuterRef("pk"), user=user)))


def managed_projects(user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(
        Exists(Membership.objects.filter(project=OuterRef("pk"), user=user, role=Role.MANAGER))
    )


def can_annotate(user: AnyUser, project: Project) -> bool:
    return visible_projects(user).filter(pk=project.pk).exists()


def can_manage(user: AnyUser, project: Project) -> bool:
    return managed_projects(user).filter(pk=project.pk).exists()


def visible_sql(user: AnyUser, project_column: str) -> tuple[Composable, list[object]]:
    """The rule of `visible_projects` as an SQL condition (with its parameters) on
    `project_column`, for the hand-written queries of the annotator's hot path."""
    if not user.is_authenticated:
        return SQL("1 = 0"), []
    if is_admin(user):
        return SQL("1 = 1"), []
    return SQL("EXISTS (SELECT 1 FROM {} m WHERE m.project_id = {} AND m.user_id = %s)").format(
        table(Membership), Identifier(*project_column.split("."))
    ), [user.pk]


def project_for_annotator(user: AnyUser, project_id: int | str) -> Project:
    """The project, or 404 when the user may not see it (no hint that it exists).

    Every annotator request starts here, so it is one query read without ORM compilation."""
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        raise Http404("no such project") from None
    visible, params = visible_sql(user, "p.id")
    project = first(Project, "p", SQL("p.id = %s AND {}").format(visible), [project_id, *params])
    if project is None:
        raise Http404("no such project")
    return project


def project_for_manager(user: AnyUser, project_id: int | str) -> Project:
    project = project_for_annotator(user, project_id)
    if not can_manage(user, project):
        raise PermissionDenied("only the project's managers and admins may do this")
    return project
