from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is evidence, nobody edits or deletes it from here."""

    list_display = ("created_at", "username", "action", "outcome", "resource_type", "resource_id", "ip", "duration_ms")
    list_filter = ("action", "outcome", ("user", admin.RelatedOnlyFieldListFilter), "created_at")
    date_hierarchy = "created_at"
    search_fields = ("username", "resource_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
