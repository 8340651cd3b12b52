"""Roles. Admin: a superuser, every project. Project manager: curates the projects they manage.
Annotator: sees and labels only the projects they are a member of."""
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Project, Role


def is_admin(user):
    return user.is_active and user.is_superuser


def visible_projects(user):
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def managed_projects(user):
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user, memberships__role=Role.MANAGER).distinct()


def can_annotate(user, project):
    return visible_projects(user).filter(pk=project.pk).exists()


def can_manage(user, project):
    return managed_projects(user).filter(pk=project.pk).exists()


def project_for_annotator(user, project_id):
    """The project, or 404 when the user may not see it (no hint that it exists)."""
    return get_object_or_404(visible_projects(user), pk=project_id)


def project_for_manager(user, project_id):
    project = project_for_annotator(user, project_id)
    if not can_manage(user, project):
        raise PermissionDenied("only the project's managers and admins may do this")
    return project
