"""Reads of MCP session records."""

from mcp_server.models import MCPSession


def mcp_session_open_for_user(*, session_id: str, user_id: int | None) -> MCPSession | None:
    """The open record of ``session_id`` if it belongs to ``user_id`` (so it may be restored)."""
    return MCPSession.objects.filter(id=session_id, user_id=user_id, ended_at__isnull=True).first()
