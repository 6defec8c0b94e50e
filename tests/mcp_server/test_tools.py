"""Every Coder tool through the real stack: Daphne, the SDK client, the provisioner, local workspaces."""

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from asgiref.sync import async_to_sync
from mcp.shared.exceptions import MCPError

from tests.mcp_server.conftest import MCP_PATH, mcp_client

pytestmark = pytest.mark.slow

TOOLS = {
    "coder_get_authenticated_user",
    "coder_list_workspaces",
    "coder_get_workspace",
    "coder_create_workspace",
    "coder_create_workspace_build",
    "coder_get_workspace_build_logs",
    "coder_get_workspace_agent_logs",
    "coder_list_templates",
    "coder_template_version_parameters",
    "coder_upload_tar_file",
    "coder_create_template_version",
    "coder_get_template_version_logs",
    "coder_create_template",
    "coder_update_template_active_version",
    "coder_delete_template",
    "coder_workspace_bash",
    "coder_workspace_ls",
    "coder_workspace_read_file",
    "coder_workspace_write_file",
    "coder_workspace_edit_file",
    "coder_workspace_edit_files",
}


def data(result) -> dict:
    """The structured result, checked to be the same object as the JSON text."""
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result) -> str:
    assert result.is_error, result
    return result.content[0].text


def run(url, headers, scenario, **client_kwargs):
    async def main():
        async with mcp_client(url, headers=headers, **client_kwargs) as client:
            return await scenario(client)

    return async_to_sync(main)()


@pytest.fixture
def member_workspace(member, starter, mcp_url, member_headers):
    """A running workspace of the member's, made through the tools."""

    async def create(client):
        templates = data(await client.call_tool("coder_list_templates", {}))["templates"]
        version_id = templates[0]["active_version_id"]
        workspace = data(
            await client.call_tool(
                "coder_create_workspace",
                {"user": "me", "template_version_id": version_id, "name": "dev", "rich_parameters": {}},
            )
        )
        logs = data(
            await client.call_tool(
                "coder_get_workspace_build_logs", {"workspace_build_id": workspace["latest_build"]["id"]}
            )
        )
        assert logs["build"]["job"]["status"] == "succeeded", logs
        return data(await client.call_tool("coder_get_workspace", {"workspace_id": "dev"}))

    workspace = run(mcp_url, member_headers, create)
    assert workspace["status"] == "running"
    return workspace


def test_every_tool_is_listed_with_schemas_and_annotations(mcp_url, member_headers):
    async def scenario(client):
        return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in run(mcp_url, member_headers, scenario)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.annotations.title
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema["type"] == "object" and tool.output_schema["properties"]
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    assert tools["coder_list_workspaces"].annotations.read_only_hint is True
    assert tools["coder_create_workspace_build"].annotations.destructive_hint is True
    assert tools["coder_workspace_bash"].input_schema["properties"]["timeout_ms"]["maximum"] == 300000
    assert set(tools["coder_create_workspace"].input_schema["required"]) == {
        "user",
        "template_version_id",
        "name",
        "rich_parameters",
    }


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_authenticated_user_on_both_protocol_eras(member, mcp_url, member_headers, mode):
    async def scenario(client):
        return data(await client.call_tool("coder_get_authenticated_user", {}))

    me = run(mcp_url, member_headers, scenario, mode=mode)
    assert (me["username"], me["name"], me["email"], me["status"]) == ("mike", "Mike Member", member.email, "active")
    assert me["id"] == member.pk


def test_full_workflow_with_progress_and_logs(member_workspace, mcp_url, member_headers):
    progress: list[tuple[float, str | None]] = []
    logs: list[str] = []

    async def on_progress(value, total, message):
        progress.append((value, message))

    async def on_log(params):
        logs.append(str(params.data))

    async def scenario(client):
        ran = data(
            await client.call_tool(
                "coder_workspace_bash",
                {"workspace": "dev", "command": "echo hello from $CODER_WORKSPACE_NAME; pwd"},
                progress_callback=on_progress,
            )
        )
        assert ran["exit_code"] == 0 and "hello from dev" in ran["output"]
        home = ran["output"].strip().splitlines()[-1]
        path = f"{home}/src/app.py"
        text = "print('one')\nprint('two')\n"
        data(
            await client.call_tool(
                "coder_workspace_write_file",
                {"workspace": "mike/dev", "path": path, "content": base64.b64encode(text.encode()).decode()},
            )
        )
        read = data(await client.call_tool("coder_workspace_read_file", {"workspace": "dev", "path": path}))
        assert base64.b64decode(read["content"]).decode() == text and read["mimeType"] == "text/x-python"
        edited = data(
            await client.call_tool(
                "coder_workspace_edit_file",
                {"workspace": "dev", "path": path, "edits": [{"search": "one", "replace": "uno"}]},
            )
        )
        assert edited["replacements"] == 1
        data(
            await client.call_tool(
                "coder_workspace_edit_files",
                {"workspace": "dev", "files": [{"path": path, "edits": [{"search": "two", "replace": "dos"}]}]},
            )
        )
        ran = data(await client.call_tool("coder_workspace_bash", {"workspace": "dev", "command": f"python3 {path}"}))
        assert ran["output"].split() == ["uno", "dos"]
        listing = data(await client.call_tool("coder_workspace_ls", {"workspace": "dev", "path": f"{home}/src"}))
        assert {"path": path, "is_dir": False} in listing["contents"]

        stop_progress_before = len(progress)
        stopped = data(
            await client.call_tool(
                "coder_create_workspace_build",
                {"workspace_id": "dev", "transition": "stop"},
                progress_callback=on_progress,
            )
        )
        assert stopped["status"] == "stopped" and len(progress) > stop_progress_before
        refused = error_text(await client.call_tool("coder_workspace_ls", {"workspace": "dev", "path": home}))
        assert "stopped" in refused and "coder_create_workspace_build" in refused
        # bash starts a stopped workspace first, as Coder's does.
        ran = data(await client.call_tool("coder_workspace_bash", {"workspace": "dev", "command": "echo back"}))
        assert ran["output"].strip() == "back"
        workspace = data(await client.call_tool("coder_get_workspace", {"workspace_id": "dev"}))
        agent_id = workspace["latest_build"]["resources"][0]["agents"][0]["id"]
        agent_logs = data(await client.call_tool("coder_get_workspace_agent_logs", {"workspace_agent_id": agent_id}))
        assert any("is ready" in line["output"] for line in agent_logs["logs"])
        data(
            await client.call_tool(
                "coder_create_workspace_build", {"workspace_id": workspace["id"], "transition": "stop"}
            )
        )
        build = (await client.call_tool("coder_get_workspace", {"workspace_id": "dev"})).structured_content
        data(
            await client.call_tool(
                "coder_get_workspace_build_logs", {"workspace_build_id": build["latest_build"]["id"]}
            )
        )
        deleted = data(
            await client.call_tool(
                "coder_create_workspace_build",
                {"workspace_id": "dev", "transition": "delete"},
                progress_callback=on_progress,
            )
        )
        assert deleted["status"] == "deleted"
        return data(await client.call_tool("coder_list_workspaces", {}))

    remaining = run(mcp_url, member_headers, scenario, logging_callback=on_log)
    assert remaining == {"workspaces": [], "count": 0}
    assert any("hello from dev" in (message or "") for _, message in progress), progress
    assert any("hello from dev" in line for line in logs)


def test_stranger_sees_nothing_of_anothers_workspace(member_workspace, mcp_url, stranger_headers):
    workspace_id = member_workspace["id"]
    build_id = member_workspace["latest_build"]["id"]
    agent_id = member_workspace["latest_build"]["resources"][0]["agents"][0]["id"]
    calls = [
        ("coder_get_workspace", {"workspace_id": workspace_id}),
        ("coder_get_workspace", {"workspace_id": "mike/dev"}),
        ("coder_create_workspace_build", {"workspace_id": workspace_id, "transition": "stop"}),
        ("coder_get_workspace_build_logs", {"workspace_build_id": build_id}),
        ("coder_get_workspace_agent_logs", {"workspace_agent_id": agent_id}),
        ("coder_workspace_bash", {"workspace": "mike/dev", "command": "id"}),
        ("coder_workspace_ls", {"workspace": "mike/dev", "path": "/"}),
        ("coder_workspace_read_file", {"workspace": "mike--dev", "path": "/etc/hostname"}),
        ("coder_workspace_write_file", {"workspace": "mike/dev", "path": "/tmp/x", "content": "eA=="}),
        (
            "coder_workspace_edit_file",
            {"workspace": "mike/dev", "path": "/x", "edits": [{"search": "a", "replace": "b"}]},
        ),
        ("coder_workspace_edit_files", {"workspace": "mike/dev", "files": [{"path": "/x", "edits": []}]}),
    ]

    async def scenario(client):
        listed = data(await client.call_tool("coder_list_workspaces", {"owner": "mike"}))
        return listed, [await client.call_tool(name, arguments) for name, arguments in calls]

    listed, results = run(mcp_url, stranger_headers, scenario)
    assert listed == {"workspaces": [], "count": 0}
    for (name, _), outcome in zip(calls, results, strict=True):
        assert "not found" in error_text(outcome).lower(), (name, outcome)


def test_unknown_tool_and_bad_arguments_are_clear(mcp_url, member_headers):
    async def scenario(client):
        try:
            unknown = await client.call_tool("coder_no_such_tool", {})
        except MCPError as exc:
            unknown = exc
        missing = await client.call_tool("coder_get_workspace", {})
        wrong = await client.call_tool("coder_create_workspace_build", {"workspace_id": "dev", "transition": "restart"})
        bad_b64 = await client.call_tool(
            "coder_workspace_write_file", {"workspace": "dev", "path": "/x", "content": "not base64!"}
        )
        no_ws = await client.call_tool("coder_get_workspace", {"workspace_id": "nope"})
        return unknown, missing, wrong, bad_b64, no_ws

    unknown, missing, wrong, bad_b64, no_ws = run(mcp_url, member_headers, scenario)
    text = error_text(unknown) if not isinstance(unknown, MCPError) else str(unknown)
    assert "coder_no_such_tool" in text
    assert "workspace_id" in error_text(missing)
    assert "transition" in error_text(wrong)
    assert "base64" in error_text(bad_b64)
    assert "coder_list_workspaces" in error_text(no_ws)


def test_bash_timeout_background_and_cancellation(member_workspace, mcp_url, member_headers, tmp_path):
    pid_file = tmp_path / "sleeper.pid"

    async def scenario(client):
        timed_out = data(
            await client.call_tool(
                "coder_workspace_bash", {"workspace": "dev", "command": "sleep 30", "timeout_ms": 300}
            )
        )
        background = data(
            await client.call_tool(
                "coder_workspace_bash", {"workspace": "dev", "command": "sleep 30", "background": True}
            )
        )
        with pytest.raises(MCPError):
            await client.call_tool(
                "coder_workspace_bash",
                {"workspace": "dev", "command": f"echo $$ > {pid_file}; exec sleep 120"},
                read_timeout_seconds=2,
            )
        return timed_out, background

    timed_out, background = run(mcp_url, member_headers, scenario)
    assert timed_out["exit_code"] == 124 and "Command canceled due to timeout" in timed_out["output"]
    assert background["exit_code"] == 0
    pid = int(Path(pid_file).read_text())
    deadline = time.monotonic() + 15
    while _alive(pid):
        assert time.monotonic() < deadline, "the cancelled command is still running"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_each_call_acts_as_its_own_caller(member, stranger, mcp_url, member_headers, stranger_headers):
    """The session manager starts inside the first request; later callers must not inherit it."""

    async def me(client):
        return data(await client.call_tool("coder_get_authenticated_user", {}))["username"]

    async def both():
        async with (
            mcp_client(mcp_url, headers=member_headers) as first,
            mcp_client(mcp_url, headers=stranger_headers) as second,
        ):
            return [await me(first), await me(second), await me(first)]

    assert async_to_sync(both)() == [member.username, stranger.username, member.username]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set by .ci/run)")
def test_a_stream_cut_mid_command_resumes_on_another_worker_without_losing_progress(
    member_workspace, mcp_url, member_headers, second_daphne_server
):
    """Production: the client loses its POST stream after the first progress event and
    resumes with Last-Event-ID on another worker; every later event and the result arrive."""
    from tests.mcp_server.test_transport import MCP_HEADERS, open_session, sse_events

    session_id = open_session(mcp_url, **member_headers)
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    command = "for i in 1 2 3 4 5; do echo line$i; sleep 0.4; done"
    call = {
        "jsonrpc": "2.0",
        "id": 21,
        "method": "tools/call",
        "params": {
            "name": "coder_workspace_bash",
            "arguments": {"workspace": "dev", "command": command},
            "_meta": {"progressToken": "p21"},
        },
    }
    seen = []
    with httpx.stream("POST", mcp_url, json=call, headers=headers, timeout=30) as response:
        for event in sse_events(response, until_result=False):
            seen.append(event)
            if event.get("data", {}).get("method") == "notifications/progress":
                break  # the connection drops here
    cut_at = seen[-1]["id"]
    resume = {**headers, "Accept": "text/event-stream", "Last-Event-ID": cut_at}
    with httpx.stream("GET", second_daphne_server + MCP_PATH, headers=resume, timeout=30) as response:
        assert response.status_code == 200
        replayed = sse_events(response)
    assert replayed[-1]["data"]["id"] == 21
    output = replayed[-1]["data"]["result"]["structuredContent"]["output"]
    assert output.split() == [f"line{i}" for i in range(1, 6)]
    progress = [
        e["data"]["params"].get("message") or ""
        for e in seen + replayed
        if e.get("data", {}).get("method") == "notifications/progress"
    ]
    assert "".join(progress).split() == [f"line{i}" for i in range(1, 6)], "no progress event lost"


def test_a_session_restored_by_a_json_answered_request_still_streams_notifications(
    member_workspace, mcp_url, member_headers, second_daphne_server
):
    """JSON-or-SSE is chosen per request: a session another worker restores while answering a
    ping (JSON) still streams a later command's log and progress notifications there."""
    from tests.mcp_server.test_transport import MCP_HEADERS, open_session, ping, sse_events

    session_id = open_session(mcp_url, **member_headers)
    other_worker = second_daphne_server + MCP_PATH
    restored = ping(other_worker, session_id, **member_headers)
    assert restored.headers["content-type"] == "application/json" and restored.json()["result"] == {}
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    params = {
        "name": "coder_workspace_bash",
        "arguments": {"workspace": "dev", "command": "echo streamed"},
        "_meta": {"progressToken": "p22"},
    }
    call = {"jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": params}
    with httpx.stream("POST", other_worker, json=call, headers=headers, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    methods = [event["data"].get("method") for event in events if "data" in event]
    assert "notifications/message" in methods and "notifications/progress" in methods, methods
    assert events[-1]["data"]["result"]["structuredContent"]["output"] == "streamed\n"


def test_large_files_and_outputs_fit_what_sdk_clients_accept(member_workspace, mcp_url, member_headers):
    """The SDK client refuses SSE events over 1 MiB: a big file is read in pages, a flood is capped."""
    size = 600_000

    async def scenario(client):
        made = data(
            await client.call_tool(
                "coder_workspace_bash",
                {
                    "workspace": "dev",
                    "command": f"head -c {size} /dev/urandom > big.bin; head -c 3000000 /dev/zero | tr '\\0' x",
                },
            )
        )
        home = data(await client.call_tool("coder_workspace_bash", {"workspace": "dev", "command": "pwd"}))[
            "output"
        ].strip()
        chunks, offset = [], 0
        while offset < size:
            page = data(
                await client.call_tool(
                    "coder_workspace_read_file", {"workspace": "dev", "path": f"{home}/big.bin", "offset": offset}
                )
            )
            chunk = base64.b64decode(page["content"])
            assert chunk, "a page past the end would loop forever"
            chunks.append(chunk)
            offset += len(chunk)
        whole = data(
            await client.call_tool("coder_workspace_bash", {"workspace": "dev", "command": "sha256sum big.bin"})
        )
        return made, b"".join(chunks), whole["output"].split()[0]

    made, content, digest = run(mcp_url, member_headers, scenario)
    assert len(made["output"]) < 300_000 and "truncated" in made["output"].lower()
    assert len(content) == size
    assert hashlib.sha256(content).hexdigest() == digest
