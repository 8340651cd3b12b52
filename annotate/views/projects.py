"""Creating a project and its settings page (settings, members, invites). Thin: the rules are in
annotate.projects, the validation in annotate.forms."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from annotate import projects
from annotate.forms import InviteForm, MemberForm, ProjectForm, RoleForm
from annotate.models import PREFERENCE_LABELS, Invite, Membership, Role
from annotate.permissions import project_for_manager


@login_required
@require_http_methods(["GET", "POST"])
def new_project(request):
    if not projects.can_create_projects(request.user):
        raise PermissionDenied("only staff and admins may create projects")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = projects.create_project(request.user, form.cleaned_data)
        messages.success(request, f"Created {project.name}. Add members and import data next.")
        return redirect("annotate:project_settings", project.pk)
    return render(request, "annotate/project_new.html", {"form": form, "scale": PREFERENCE_LABELS})


@dataclass(frozen=True)
class InviteRow:
    """One invite as the settings page lists it: why it no longer works ("" while it does)."""

    invite: Invite
    refusal: str


def _settings_page(request, project, status=200, **forms):
    now = timezone.now()
    invites = [
        InviteRow(invite, projects.invite_refusal(invite, now))
        for invite in Invite.objects.filter(project=project).select_related("created_by")[:30]
    ]
    context = {
        "project": project,
        "scale": PREFERENCE_LABELS,
        "form": forms.get("form") or ProjectForm(instance=project),
        "member_form": forms.get("member_form") or MemberForm(),
        "invite_form": forms.get("invite_form") or InviteForm(),
        "members": Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username"),
        "role_choices": Role.choices,
        "invites": invites,
        "new_invite_url": forms.get("new_invite_url"),
    }
    response = render(request, "annotate/project_settings.html", context, status=status)
    if context["new_invite_url"]:
        response["Cache-Control"] = "no-store"  # the key is shown once, never cached
    return response


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id):
    project = project_for_manager(request.user, project_id)
    if request.method == "POST":
        form = ProjectForm(request.POST, instance=project)
        if form.is_valid():
            form.save()
            messages.success(request, "Settings saved.")
            return redirect("annotate:project_settings", project.pk)
        return _settings_page(request, project, status=400, form=form)
    return _settings_page(request, project)


@login_required
@require_POST
def member_add(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, project, status=400, member_form=form)
    try:
        membership = projects.add_member(project, form.cleaned_data["identifier"], form.cleaned_data["role"])
    except projects.ProjectError as exc:
        form.add_error("identifier", str(exc))
        return _settings_page(request, project, status=400, member_form=form)
    messages.success(request, f"Added {membership.user.get_username()} as {membership.get_role_display().lower()}.")
    return redirect(reverse("annotate:project_settings", args=[project.pk]) + "#members")


@login_required
@require_POST
def member_change(request, project_id, membership_id):
    project = project_for_manager(request.user, project_id)
    try:
        if request.POST.get("remove"):
            gone = projects.remove_member(project, membership_id)
            messages.success(request, f"Removed {gone.user.get_username()}.")
        else:
            form = RoleForm(request.POST)
            if not form.is_valid():
                raise projects.ProjectError(form.errors.as_text())
            changed = projects.change_role(project, membership_id, form.cleaned_data["role"])
            messages.success(request, f"{changed.user.get_username()} is now {changed.get_role_display().lower()}.")
    except projects.ProjectError as exc:
        messages.error(request, f"Not changed: {exc}")
    return redirect(reverse("annotate:project_settings", args=[project.pk]) + "#members")


@login_required
@require_POST
def invite_create(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, project, status=400, invite_form=form)
    new = projects.create_invite(
        project,
        request.user,
        form.cleaned_data["role"],
        form.cleaned_data["expires_in_days"],
        single_use=form.cleaned_data["single_use"],
    )
    url = request.build_absolute_uri(reverse("annotate:invite_accept", args=[new.key]))
    return _settings_page(request, project, new_invite_url=url)


@login_required
@require_POST
def invite_revoke(request, project_id, invite_id):
    project = project_for_manager(request.user, project_id)
    if projects.revoke_invite(project, invite_id):
        messages.success(request, "Invite revoked.")
    return redirect(reverse("annotate:project_settings", args=[project.pk]) + "#invites")


@login_required
@require_http_methods(["GET", "POST"])
def invite_accept(request, key):
    """GET: what the invite offers (nothing changes); POST: join."""
    if request.method == "POST":
        try:
            joined = projects.accept_invite(request.user, key)
        except projects.ProjectError as exc:
            return render(request, "annotate/invite.html", {"error": str(exc)}, status=404)
        m = joined.membership
        messages.success(
            request,
            f"You joined {m.project.name} as {m.get_role_display().lower()}."
            if joined.created
            else f"You were already a member of {m.project.name} ({m.get_role_display().lower()}).",
        )
        return redirect("annotate:project", m.project_id)
    invite = projects.find_invite(key)
    refusal = projects.invite_refusal(invite) if invite else "not valid"
    if refusal:
        return render(
            request,
            "annotate/invite.html",
            {"error": f"This invite link can no longer be used ({refusal})."},
            status=404,
        )
    return render(request, "annotate/invite.html", {"invite": invite})
