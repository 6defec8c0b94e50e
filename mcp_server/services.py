"""Writes for MCP session records. Sync functions: the ASGI layer calls them off the event loop."""

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from mcp_server.models import MCPSession

# Why a session ended, as shown in the admin.
END_OPERATOR = "operator"  # ended in the admin
END_SERVER = "closed"  # client DELETE, idle timeout or crash


def mcp_session_open(
    *,
    session_id: str,
    user_id: int | None,
    client_name: str,
    client_version: str,
    protocol_version: str,
    client_capabilities: dict | None = None,
) -> MCPSession:
    now = timezone.now()
    return MCPSession.objects.create(
        id=session_id,
        user_id=user_id,
        client_name=client_name[:200],
        client_version=client_version[:100],
        protocol_version=protocol_version[:20],
        client_capabilities=client_capabilities or {},
        last_seen_at=now,
    )


def mcp_session_touch(*, session_id: str, now: datetime | None = None) -> bool:
    """Record activity; False when the session was ended meanwhile (e.g. by an operator).

    One UPDATE both refreshes ``last_seen_at`` and tells whether the record is still open,
    so a request pays a single query, and only when the throttle lets it through.
    """
    return bool(
        MCPSession.objects.filter(id=session_id, ended_at__isnull=True).update(last_seen_at=now or timezone.now())
    )


def mcp_session_end(*, session_id: str, reason: str) -> None:
    MCPSession.objects.filter(id=session_id, ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)


def mcp_sessions_end(*, sessions: QuerySet[MCPSession], reason: str = END_OPERATOR) -> int:
    """End several sessions at once (the admin action); returns how many were still open."""
    return sessions.filter(ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)


def mcp_sessions_end_stale(*, idle_for: timedelta) -> int:
    """Close records whose process died without saying so (they can never be resumed)."""
    cutoff = timezone.now() - idle_for
    return mcp_sessions_end(sessions=MCPSession.objects.filter(last_seen_at__lt=cutoff), reason=END_SERVER)
