"""Admin upload for imports: a button on a project's page (and a changelist action) opens a form
that runs the same import service as `manage.py import_items`. A bad file shows its error on the
form and writes nothing."""
from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .import_shapes import SHAPES
from .imports import ImportFileError, import_items
from .permissions import managed_projects


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, CSV or Parquet (.jsonl, .csv, .parquet).")
    shape = forms.ChoiceField(choices=[("", "Detect from the columns")] + [(s, s) for s in SHAPES], required=False)
    source = forms.CharField(max_length=200, required=False, help_text="Who gave the labels in the file; defaults to the file name.")
    as_kind = forms.ChoiceField(label="Single responses become", required=False,
                                choices=[("", "Project default"), ("binary", "Binary items (thumbs up/down)"), ("edit", "Edit items")])
    dry_run = forms.BooleanField(label="Check only", required=False, help_text="Check every row and count what would be imported; write nothing.")


class ProjectImportAdminMixin:
    """For ProjectAdmin: the import page, and managers see only the projects they manage."""

    change_form_template = "admin/annotate/project/change_form.html"
    actions = ["import_items_action"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=managed_projects(request.user).values("pk"))

    def get_urls(self):
        own = [path("<int:project_id>/import/", self.admin_site.admin_view(self.import_view), name="annotate_project_import")]
        return own + super().get_urls()

    @admin.action(description="Import items into the selected project")
    def import_items_action(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one project to import into.", messages.WARNING)
            return None
        return redirect("admin:annotate_project_import", project_id=queryset.get().pk)

    def import_view(self, request, project_id):
        project = managed_projects(request.user).filter(pk=project_id).first()
        if project is None:
            raise Http404("no such project")
        form = ImportForm(request.POST or None, request.FILES or None)
        status = 200
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload.file
            if not isinstance(data, str):
                data.seek(0)
            try:
                result = import_items(project, data, name=upload.name, shape=form.cleaned_data["shape"] or None,
                                      source=form.cleaned_data["source"] or None, as_kind=form.cleaned_data["as_kind"] or None,
                                      dry_run=form.cleaned_data["dry_run"])
            except ImportFileError as exc:
                form.add_error("file", f"{exc} — nothing was imported.")
            else:
                self.message_user(request, result.summary(), messages.INFO if result.dry_run else messages.SUCCESS)
                if result.dry_run:  # back to the form, to upload the same file for real
                    return redirect(reverse("admin:annotate_project_import", args=[project.pk]))
                return redirect(reverse("admin:annotate_project_change", args=[project.pk]))
        if form.errors:
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": project,
            "form": form,
            "shapes": SHAPES,
            "title": f"Import items into {project}",
        }
        return TemplateResponse(request, "admin/annotate/project/import.html", context, status=status)
