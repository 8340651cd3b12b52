from django.contrib import admin, messages

from curation import models


@admin.register(models.Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "name", "content_hash", "epsilon", "created_at"]
    list_filter = ["project"]

    def has_change_permission(self, request, obj=None):
        return False  # snapshots are immutable


@admin.register(models.ExportToken)
class ExportTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "prefix", "created_by", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = ["prefix", "key_hash", "created_by", "last_used_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["project", "name", "expires_at"]
        return ["project", "name", "prefix", "created_by", "expires_at", "revoked_at", "last_used_at"]

    def save_model(self, request, obj, form, change):
        if not change:  # the key exists only now: show it once, like the dashboard does
            obj.created_by = request.user
            key = obj.set_new_key()
            super().save_model(request, obj, form, change)
            messages.warning(
                request, f"Export key for {obj.name}: {key} (copy it now: it is not stored and will not be shown again)"
            )
            return
        super().save_model(request, obj, form, change)


@admin.register(models.CurationAction)
class CurationActionAdmin(admin.ModelAdmin):
    list_display = ["project", "action", "user", "created_at"]
    list_filter = ["project", "action"]


@admin.register(models.NoiseRun)
class NoiseRunAdmin(admin.ModelAdmin):
    list_display = ["project", "method", "epsilon", "epsilon_low", "epsilon_high", "epsilon_method", "created_at"]


@admin.register(models.RoutingRun)
class RoutingRunAdmin(admin.ModelAdmin):
    list_display = ["project", "strategy", "budget", "created_at"]
