from django.contrib import admin

from . import models


@admin.register(models.Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "name", "content_hash", "epsilon", "created_at"]
    list_filter = ["project"]

    def has_change_permission(self, request, obj=None):
        return False  # snapshots are immutable


@admin.register(models.ExportToken)
class ExportTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "prefix", "created_at", "revoked_at", "last_used_at"]
    readonly_fields = ["prefix", "key_hash"]


@admin.register(models.CurationAction)
class CurationActionAdmin(admin.ModelAdmin):
    list_display = ["project", "action", "user", "created_at"]
    list_filter = ["project", "action"]


@admin.register(models.NoiseRun)
class NoiseRunAdmin(admin.ModelAdmin):
    list_display = ["project", "method", "epsilon", "epsilon_low", "epsilon_high", "created_at"]


@admin.register(models.RoutingRun)
class RoutingRunAdmin(admin.ModelAdmin):
    list_display = ["project", "strategy", "budget", "created_at"]
