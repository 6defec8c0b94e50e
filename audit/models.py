"""The audit log: who did what, when, from where, and how it ended. Never contents or secrets."""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        LOGIN = "login", "Sign-in"
        TOKEN_CREATE = "token.create", "Token created"
        TOKEN_DELETE = "token.delete", "Token deleted"
        OAUTH_CONSENT = "oauth.consent", "OAuth consent"
        OAUTH_REVOKE = "oauth.revoke", "OAuth access revoked"
        WORKSPACE_BUILD = "workspace.build", "Workspace build"
        TOOL_CALL = "mcp.tool_call", "MCP tool call"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"  # refused: bad password, denied consent, tool error result

    created_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the row still says who it was after the user is deleted (or for an unknown name).
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    resource_type = models.CharField(max_length=32, blank=True)
    resource_id = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("user", "-created_at"))]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.outcome}"
