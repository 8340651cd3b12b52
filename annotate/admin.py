from django import forms
from django.contrib import admin

from annotate import models
from annotate.admin_imports import ImportRecordAdmin, ProjectImportAdmin
from annotate.forms import field_of
from annotate.judging import backends
from annotate.judging.endpoints import connection_errors


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(models.Project)
class ProjectAdmin(ProjectImportAdmin):
    list_display = ["name", "overlap", "queue_order", "human_budget", "gold_rate", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


admin.site.register(models.ImportRecord, ImportRecordAdmin)


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "source", "text"]
    list_filter = ["project", "source"]
    search_fields = ["text"]


@admin.register(models.Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "model_name"]
    search_fields = ["text", "model_name"]
    raw_id_fields = ["prompt"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "routing", "is_gold", "human_label_count"]
    list_filter = ["project", "kind", "routing", "is_gold"]
    raw_id_fields = ["prompt", "response_a", "response_b"]


class LMJudgeAdminForm(forms.ModelForm):
    backend = forms.ChoiceField(help_text="A judge backend registered in annotate.judging.backends.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "backend" in self.fields:  # read-only (not a field) for staff who are not superusers
            field_of(self, "backend", forms.ChoiceField).choices = backends.choices()

    class Meta:
        model = models.LMJudge
        fields = "__all__"  # noqa: DJ007

    def clean(self):
        data = super().clean() or {}
        for field, error in connection_errors(data.get("base_url") or "", data.get("api_key_name") or "").items():
            if field in self.fields:
                self.add_error(field, error)
        return data


@admin.register(models.LMJudge)
class LMJudgeAdmin(admin.ModelAdmin):
    form = LMJudgeAdminForm
    list_display = ["name", "backend", "model", "base_url", "api_key_name"]
    filter_horizontal = ["projects"]

    def get_readonly_fields(self, request, obj=None):
        # Where a judge connects, with which key, and which model files it loads, is the admins'
        # (superusers') call only; staff with change rights keep the rest (names, prompts, parameters).
        return [] if request.user.is_superuser else ["base_url", "api_key_name", "backend", "model", "projects"]


@admin.register(models.Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "user", "judge"]
    list_filter = ["kind"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        # Whose labels a source holds is fixed by its import (annotate.imports: a source is never
        # both); flipping it here would leave Item.human_label_count counting the other way.
        return ["label_kind"] if obj is not None and obj.kind == models.AnnotatorKind.SOURCE else []


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "kind", "status", "preference", "thumbs", "created_at"]
    list_filter = ["kind", "status", "annotator__kind"]
    raw_id_fields = ["item", "annotator"]


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "state", "leased_until"]
    list_filter = ["state"]
    raw_id_fields = ["item", "annotator", "annotation"]
