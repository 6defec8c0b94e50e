from django.conf import settings
from django.db import models


class MCPSession(models.Model):
    """One Streamable HTTP session (protocol 2025-xx), recorded so operators can see and end it.

    The live session is held in memory by the SDK's session manager; this row is its
    visible shadow. Ending the row (admin action) makes the server drop the live session
    at its next request, which then answers 404 like any unknown session. A worker process
    that gets a request for an open session it does not hold restores it from this row
    (``server --workers N`` spreads one client's connections over several processes).
    """

    id = models.CharField(primary_key=True, max_length=64, help_text="The Mcp-Session-Id header value.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="mcp_sessions"
    )
    client_name = models.CharField(max_length=200, blank=True)
    client_version = models.CharField(max_length=100, blank=True)
    protocol_version = models.CharField(max_length=20, blank=True)
    client_capabilities = models.JSONField(
        default=dict, blank=True, help_text="As declared at initialize; lets another worker restore the session."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name = "MCP session"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.client_name or 'MCP client'} ({self.id[:8]})"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None
