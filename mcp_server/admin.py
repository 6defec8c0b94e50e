from django.contrib import admin, messages

from mcp_server import services
from mcp_server.models import MCPSession


@admin.register(MCPSession)
class MCPSessionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "client_name",
        "client_version",
        "protocol_version",
        "created_at",
        "last_seen_at",
        "ended_at",
    )
    list_filter = ("protocol_version", ("ended_at", admin.EmptyFieldListFilter))
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    search_fields = ("user__username", "client_name")
    readonly_fields = [f.name for f in MCPSession._meta.fields]
    actions = ["end_sessions"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="End selected sessions (the client must reconnect)")
    def end_sessions(self, request, queryset) -> None:
        ended = services.mcp_sessions_end(sessions=queryset)
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)
