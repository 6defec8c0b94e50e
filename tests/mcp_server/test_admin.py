"""Operators see MCP sessions in the admin and can end them; members cannot."""

import pytest
from django.utils import timezone

from mcp_server.models import MCPSession
from mcp_server.services import END_OPERATOR, mcp_session_open

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/mcp_server/mcpsession/"


def open_record(user, session_id: str) -> MCPSession:
    return mcp_session_open(
        session_id=session_id,
        user_id=user.pk,
        client_name="Claude",
        client_version="1.2",
        protocol_version="2025-11-25",
    )


def test_operator_lists_and_ends_sessions(admin_client, member):
    live, other = open_record(member, "a" * 32), open_record(member, "b" * 32)
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200 and "Claude" in page.content.decode()
    response = admin_client.post(CHANGELIST, {"action": "end_sessions", "_selected_action": [live.pk]}, follow=True)
    assert "Ended 1 session(s)." in response.content.decode()
    live.refresh_from_db()
    other.refresh_from_db()
    assert live.ended_at is not None and live.ended_at <= timezone.now() and live.end_reason == END_OPERATOR
    assert other.ended_at is None


def test_member_cannot_reach_the_admin(member_client, member):
    open_record(member, "c" * 32)
    assert member_client.get(CHANGELIST).status_code == 302
