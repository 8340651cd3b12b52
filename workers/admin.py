from django.contrib import admin

from . import models


@admin.register(models.ModelSpec)
class ModelSpecAdmin(admin.ModelAdmin):
    list_display = ["name", "path_or_id", "dtype", "max_length"]


@admin.register(models.TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "state", "progress", "total", "created_at"]
    list_filter = ["kind", "state"]
