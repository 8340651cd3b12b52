"""Admin upload for imports: a button on a project's page (and a changelist action) opens a form
that runs the same import service as `manage.py import_items`. A bad file shows its errors (every
bad row, up to a cap) on the form and writes nothing, unless "skip invalid rows" is ticked. Uploads
over settings.IMPORT_UPLOAD_MAX_BYTES are refused from their Content-Length, before the body is
read; smaller ones are spooled to disk by Django past FILE_UPLOAD_MAX_MEMORY_SIZE and read from
there as a stream. Each import that writes leaves an `ImportRecord`, listed here read-only."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from annotate.import_shapes import SHAPES
from annotate.imports import ImportFileError, import_items
from annotate.models import ImportRecord, LabelKind
from annotate.permissions import is_admin, managed_projects


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL, CSV or Parquet (.jsonl, .csv, .parquet); JSONL and CSV may be gzip (.gz) or zstd (.zst) compressed."
    )
    shape = forms.ChoiceField(choices=[("", "Detect from the columns")] + [(s, s) for s in SHAPES], required=False)
    source = forms.CharField(
        max_length=200,
        required=False,
        help_text="Who gave the labels in the file; defaults to the file name "
        "(AlpacaEval files: the annotator column).",
    )
    label_kind = forms.ChoiceField(
        label="Labels were made by",
        required=False,
        choices=[("", "Not declared: a model, or as the source was first imported")] + list(LabelKind.choices),
        help_text="Only labels declared as people's count as human labels.",
    )
    as_kind = forms.ChoiceField(
        label="Single responses become",
        required=False,
        choices=[
            ("", "Project default"),
            ("binary", "Binary items (thumbs up/down)"),
            ("edit", "Edit items"),
            ("ranking", "One ranking item per row (prompt/completions)"),
        ],
    )
    skip_invalid = forms.BooleanField(
        label="Skip invalid rows",
        required=False,
        help_text="Import the good rows; the import record lists the skipped ones (file, line, field, reason).",
    )
    dry_run = forms.BooleanField(
        label="Check only", required=False, help_text="Check every row and count what would be imported; write nothing."
    )


def upload_too_large(request):
    """The refusal message when the request body is over the import limit, else None. Read from
    Content-Length, so nothing of the body has been read (Django reads no more than it says)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.IMPORT_UPLOAD_MAX_BYTES
    if length > limit:
        return (
            f"The upload is {filesizeformat(length)}, over the {filesizeformat(limit)} limit for imports "
            "(IMPORT_UPLOAD_MAX_BYTES); compress it (.gz, .zst) or use manage.py import_items."
        )
    return None


class ProjectImportAdmin(admin.ModelAdmin):
    """ProjectAdmin's base: the import page, and managers see only the projects they manage."""

    change_form_template = "admin/annotate/project/change_form.html"
    actions = ["import_items_action"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=managed_projects(request.user).values("pk"))

    def get_urls(self):
        own = [
            path(
                "<int:project_id>/import/", self.admin_site.admin_view(self.import_view), name="annotate_project_import"
            )
        ]
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
        too_large = upload_too_large(request) if request.method == "POST" else None
        form = ImportForm() if too_large else ImportForm(request.POST or None, request.FILES or None)
        status = 413 if too_large else 200
        if not too_large and request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload.file
            if not isinstance(data, str):
                data.seek(0)
            try:
                result = import_items(
                    project,
                    data,
                    name=upload.name,
                    shape=form.cleaned_data["shape"] or None,
                    source=form.cleaned_data["source"] or None,
                    as_kind=form.cleaned_data["as_kind"] or None,
                    label_kind=form.cleaned_data["label_kind"] or None,
                    skip_invalid=form.cleaned_data["skip_invalid"],
                    dry_run=form.cleaned_data["dry_run"],
                    user=request.user,
                )
            except ImportFileError as exc:
                if exc.total == 1:
                    form.add_error("file", f"{exc} — nothing was imported.")
                else:  # one line per bad row
                    more = [f"... and {exc.total - len(exc.problems)} more"] if exc.total > len(exc.problems) else []
                    form.add_error(
                        "file",
                        [
                            f"{exc.total} bad rows — nothing was imported:",
                            *(p.describe(exc.file) for p in exc.problems),
                            *more,
                        ],
                    )
            else:
                summary = result.summary()
                if result.record_id and result.invalid:
                    url = reverse("admin:annotate_importrecord_change", args=[result.record_id])
                    summary = format_html('{} — <a href="{}">the skipped rows</a>', summary, url)
                self.message_user(request, summary, messages.INFO if result.dry_run else messages.SUCCESS)
                if result.dry_run:  # back to the form, to upload the same file for real
                    return redirect(reverse("admin:annotate_project_import", args=[project.pk]))
                return redirect(reverse("admin:annotate_project_change", args=[project.pk]))
        if form.errors and status == 200:
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": project,
            "form": form,
            "upload_error": too_large,
            "shapes": SHAPES,
            "recent_imports": ImportRecord.objects.filter(project=project)[:10],
            "max_upload": settings.IMPORT_UPLOAD_MAX_BYTES,
            "title": f"Import items into {project}",
        }
        return TemplateResponse(request, "admin/annotate/project/import.html", context, status=status)


class ImportRecordAdmin(admin.ModelAdmin):
    """Read-only: what each import wrote, and the rows it skipped. Managers see their projects'."""

    list_display = [
        "created_at",
        "project",
        "file",
        "source",
        "label_kind",
        "rows_imported",
        "rows_skipped",
        "items_created",
        "annotations_created",
    ]
    list_filter = ["label_kind", "skip_invalid"]
    search_fields = ["file", "source"]
    readonly_fields = [
        "project",
        "file",
        "source",
        "shape",
        "kind",
        "label_kind",
        "skip_invalid",
        "rows_read",
        "rows_imported",
        "rows_skipped",
        "identical_pairs",
        "prompts_created",
        "items_created",
        "items_existing",
        "annotations_created",
        "imported_by",
        "created_at",
        "skipped_rows",
    ]
    exclude = ["skipped"]

    @admin.display(description="Skipped rows")
    def skipped_rows(self, obj):
        if not obj.skipped:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.get("file"), r.get("line") or "", r.get("field") or "", r.get("reason")) for r in obj.skipped),
        )
        more = obj.rows_skipped - len(obj.skipped)
        note = format_html("<p>… and {} more, not listed.</p>", more) if more > 0 else ""
        return format_html(
            "<table><tr><th>file</th><th>line</th><th>field</th><th>reason</th></tr>{}</table>{}", rows, note
        )

    def get_queryset(self, request):
        return super().get_queryset(request).filter(project__in=managed_projects(request.user).values("pk"))

    def _allowed(self, request, obj=None):
        if is_admin(request.user):
            return True
        projects = managed_projects(request.user)
        return projects.filter(pk=obj.project_id).exists() if obj is not None else projects.exists()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and self._allowed(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return is_admin(request.user)
