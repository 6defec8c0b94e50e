"""The audit log: rows for sign-ins, tokens, builds and every MCP tool call; read-only
admin with filters; JSON-lines export. Never contents or secrets in a row."""

import base64
import io
import json
import time

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from audit.services import audit_flush, audit_record_later
from oauth.services import api_key_create, api_key_delete
from tests.conftest import PASSWORD
from tests.mcp_server.conftest import mcp_client
from tests.workspaces.conftest import starter, workspaces_dir  # noqa: F401 (shared fixtures)
from workspaces.services import workspace_create

SECRET_CONTENT = "very-secret-file-content-8c1f"


def wait_for_rows(deadline_s: float = 10, **filters) -> list[AuditEvent]:
    """The rows matching ``filters`` once there are any (the tool-call writer batches)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        rows = list(AuditEvent.objects.filter(**filters))
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"no audit row for {filters}")


@pytest.mark.django_db
def test_sign_in_success_and_failure_are_recorded_with_the_address(member):
    Client().post("/login", {"username": member.username, "password": "wrong"}, REMOTE_ADDR="10.1.2.3")
    Client().post("/login", {"username": member.username, "password": PASSWORD}, REMOTE_ADDR="10.1.2.4")
    failed = AuditEvent.objects.get(action="login", outcome="failure")
    assert (failed.username, failed.user, failed.ip) == (member.username, None, "10.1.2.3")
    assert "wrong" not in json.dumps(failed.detail)
    succeeded = AuditEvent.objects.get(action="login", outcome="success")
    assert (succeeded.user, succeeded.ip) == (member, "10.1.2.4")


@pytest.mark.django_db
def test_token_create_and_delete_are_recorded_without_the_secret(member, owner):
    key, raw = api_key_create(actor=owner, user=member, name="ci")
    key_id = key.id
    api_key_delete(actor=owner, key=key)
    rows = list(AuditEvent.objects.filter(resource_type="api_key").order_by("id"))
    assert [(r.action, r.user, r.resource_id) for r in rows] == [
        ("token.create", owner, key_id),
        ("token.delete", owner, key_id),
    ]
    assert rows[0].detail["for_user"] == member.username
    secret = raw.split("-", 1)[1]
    assert all(secret not in json.dumps(r.detail) for r in rows)


@pytest.mark.django_db
def test_workspace_build_is_recorded(member, starter):  # noqa: F811
    workspace = workspace_create(
        actor=member, owner="me", template_version_id=starter.active_version_id, name="dev", rich_parameters={}
    )
    row = AuditEvent.objects.get(action="workspace.build")
    assert (row.user, row.resource_id, row.detail["transition"]) == (member, str(workspace.id), "start")


def test_queued_rows_are_written_by_the_background_writer(transactional_db, member):
    for index in range(3):
        audit_record_later(action="mcp.tool_call", outcome="success", user=member, detail={"tool": f"t{index}"})
    audit_flush()  # whatever the writer has not taken yet
    deadline = time.monotonic() + 10
    while AuditEvent.objects.filter(action="mcp.tool_call", user=member).count() < 3:
        assert time.monotonic() < deadline, "the queued rows were not written"
        time.sleep(0.05)
    assert sorted(AuditEvent.objects.values_list("detail__tool", flat=True)) == ["t0", "t1", "t2"]


def test_every_tool_call_is_recorded_and_counted(member, mcp_url, member_headers):
    content = base64.b64encode(SECRET_CONTENT.encode()).decode()

    async def scenario():
        async with mcp_client(mcp_url, headers=member_headers) as client:
            ok = await client.call_tool("coder_get_authenticated_user", {})
            missing = await client.call_tool(
                "coder_workspace_write_file", {"workspace": "nope", "path": "/x", "content": content}
            )
            return ok, missing

    ok, missing = async_to_sync(scenario)()
    assert not ok.is_error and missing.is_error
    success = wait_for_rows(action="mcp.tool_call", detail__tool="coder_get_authenticated_user")[0]
    assert (success.outcome, success.user, success.resource_type) == ("success", member, "")
    assert success.duration_ms is not None and success.duration_ms >= 0
    failure = wait_for_rows(action="mcp.tool_call", detail__tool="coder_workspace_write_file")[0]
    assert (failure.outcome, failure.resource_type, failure.resource_id) == ("failure", "workspace", "nope")
    assert SECRET_CONTENT not in json.dumps(failure.detail) and content not in json.dumps(failure.detail)

    metrics = httpx.get(mcp_url.split("/api/")[0] + "/metrics").text
    assert 'coder_mcp_tool_calls_total{outcome="success",tool="coder_get_authenticated_user"} 1.0' in metrics
    assert 'coder_mcp_tool_calls_total{outcome="error",tool="coder_workspace_write_file"} 1.0' in metrics
    assert 'coder_mcp_tool_call_duration_seconds_count{tool="coder_get_authenticated_user"} 1.0' in metrics


@pytest.fixture
def some_events(member, owner):
    Client().post("/login", {"username": member.username, "password": "wrong"})
    key, _raw = api_key_create(actor=member, user=member, name="laptop")
    return key


@pytest.mark.django_db
def test_admin_lists_and_filters_read_only(admin_client, some_events, member):
    listing = admin_client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "token.create" in page and "login" in page

    def shown(**query) -> list[tuple[str, str]]:
        response = admin_client.get("/admin/audit/auditevent/", query)
        assert response.status_code == 200
        return [(e.action, e.outcome) for e in response.context["cl"].result_list]

    assert shown(action__exact="token.create") == [("token.create", "success")]
    assert shown(outcome__exact="failure") == [("login", "failure")]
    assert shown(user__id__exact=member.pk) == [("token.create", "success")]
    assert ("login", "failure") in shown(created_at__gte="2000-01-01 00:00:00+00:00")
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    row = AuditEvent.objects.first()
    assert admin_client.post(f"/admin/audit/auditevent/{row.pk}/delete/").status_code == 403
    assert AuditEvent.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_export_writes_json_lines_since_a_moment(some_events):
    out = io.StringIO()
    call_command("audit_export", "--since", "1h", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["action"] for line in lines] == ["login", "token.create"]
    assert lines[1]["resource_id"] == some_events.id
    only = io.StringIO()
    call_command("audit_export", "--since", "2000-01-01", "--action", "login", stdout=only)
    assert [json.loads(line)["action"] for line in only.getvalue().splitlines()] == ["login"]
    future = io.StringIO()
    call_command("audit_export", "--since", "2999-01-01T00:00:00Z", stdout=future)
    assert future.getvalue() == ""


@pytest.mark.django_db
def test_export_refuses_a_bad_since():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since"):
        call_command("audit_export", "--since", "yesterday-ish")
