from django import forms
from django.contrib import admin

from workers import finetune, models, schedules


@admin.register(models.ModelSpec)
class ModelSpecAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "path_or_id", "dtype", "max_length"]
    list_filter = [("project", admin.EmptyFieldListFilter)]


@admin.register(models.TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "state", "progress", "total", "created_at"]
    list_filter = ["kind", "state"]


@admin.register(models.FineTuneRun)
class FineTuneRunAdmin(admin.ModelAdmin):
    list_display = ["run", "method", "snapshot", "model_spec", "noise_weighting"]
    list_filter = ["method"]
    raw_id_fields = ["run", "snapshot", "result_spec"]


class FineTuneScheduleForm(forms.ModelForm):
    class Meta:
        model = models.FineTuneSchedule
        fields = "__all__"  # noqa: DJ007

    def _post_clean(self):  # not in django-stubs; the instance is built here, after clean()
        super()._post_clean()  # type: ignore[misc]
        if not self.errors:
            try:
                schedules.validate_schedule(self.instance)
            except finetune.ConfigError as exc:
                self.add_error(None, str(exc))


@admin.register(models.FineTuneSchedule)
class FineTuneScheduleAdmin(admin.ModelAdmin):
    """Saving here keeps the django-celery-beat PeriodicTask in step (crontab, enabled, args)."""

    form = FineTuneScheduleForm
    list_display = [
        "name",
        "project",
        "enabled",
        "hour",
        "minute",
        "day_of_week",
        "min_new_labels",
        "method",
        "last_outcome",
    ]
    list_filter = ["enabled", "method"]
    readonly_fields = ["periodic_task", "last_checked_at", "last_fired_at", "last_outcome", "last_run"]

    def save_model(self, request, obj, form, change):
        if not obj.created_by_id:
            obj.created_by = request.user
        schedules.save_schedule(obj)

    def delete_model(self, request, obj):
        schedules.delete_schedule(obj)


@admin.register(models.Rationale)
class RationaleAdmin(admin.ModelAdmin):
    list_display = ["item", "model_name", "run", "created_at"]
    raw_id_fields = ["item", "run"]
    search_fields = ["text", "model_name"]


@admin.register(models.LatentPreference)
class LatentPreferenceAdmin(admin.ModelAdmin):
    list_display = ["annotator", "project", "description", "corrected", "model_name", "created_at"]
    list_filter = ["project"]
    raw_id_fields = ["annotation", "run"]
    exclude = ["embedding"]
    search_fields = ["description", "corrected", "context"]
