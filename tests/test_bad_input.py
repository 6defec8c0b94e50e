"""The bad-input table: hostile requests against each surface of a real server.

Every row asserts a clean answer (an expected status, or a tool error), never a 500 or a
traceback, and that the server still answers afterwards. One parametrized test per surface:
the MCP endpoint (HTTP), REST, OAuth registration, and tool arguments (through the SDK
client, in a running workspace: paths, floods, fork bombs, memory hogs, concurrent writes).
"""

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from mcp.shared.exceptions import MCPError

from tests.mcp_server.conftest import MCP_PATH, mcp_client, token_headers
from tests.workspaces.conftest import run_jobs, starter, workspaces_dir  # noqa: F401 (shared fixtures)
from workspaces.runtime.host import PROCESS_LIMIT_NOTE, _tagged_pids, pids_cgroup_base
from workspaces.runtime.local import workspace_directory
from workspaces.services import workspace_create

MB = 1024 * 1024
DROPPED = 0  # in ``Row.expect``: the server may close the connection without an answer
NESTED = b"[" * 100_000 + b"]" * 100_000
NESTED_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
INVALID_UTF8 = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": "\xff\xfe\xc3("}}'
JSON = "application/json"
MCP_ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture
def experiments_on(enable_experiments) -> None:
    """The MCP endpoint and the OAuth2 server on (before the server forks)."""
    enable_experiments("mcp-server-http", "oauth2")


@dataclass(frozen=True)
class Row:
    name: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    expect: tuple[int, ...] = (400,)
    method: str = "POST"
    auth: bool = True
    path: str = ""


def assert_clean(response: httpx.Response | None, row: Row) -> None:
    if response is None:  # the server hung up without an answer (Twisted's limits on headers and URLs)
        assert DROPPED in row.expect, f"{row.name}: connection closed without a response"
        return
    text = response.text
    assert response.status_code in row.expect, f"{row.name}: {response.status_code} {text[:300]}"
    assert "Traceback" not in text and 'File "/' not in text, f"{row.name}: traceback in the answer"


def assert_alive(base_url: str) -> None:
    assert httpx.get(base_url + "/healthz", timeout=10).status_code == 200


def send(base_url: str, path: str, row: Row, auth: list[tuple[str, str]]) -> httpx.Response | None:
    headers = [*(auth if row.auth else []), *row.headers]
    with httpx.Client(timeout=60) as client:
        request = client.build_request(row.method, base_url + (row.path or path), content=row.body)
        # Replace httpx's defaults with exactly the row's headers (duplicates kept).
        host = [] if any(name == "host" for name, _ in headers) else [("host", request.headers["host"])]
        request.headers = httpx.Headers([*host, *headers])
        request.headers["content-length"] = str(len(row.body))
        try:
            return client.send(request)
        except httpx.RemoteProtocolError:
            return None


# ---------------------------------------------------------------------------
# The MCP endpoint
# ---------------------------------------------------------------------------
MCP_HEADERS = [("content-type", JSON), ("accept", MCP_ACCEPT)]
MCP_ROWS = [
    Row(
        "oversized body",
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * 5 * MB + b'"}}',
        MCP_HEADERS,
        (413,),
    ),
    Row("deeply nested array", NESTED, MCP_HEADERS, (400,)),
    Row("deeply nested object", NESTED_OBJECT, MCP_HEADERS, (400,)),
    Row("invalid UTF-8", INVALID_UTF8, MCP_HEADERS, (400,)),
    Row("not JSON", b"{nope", MCP_HEADERS, (400,)),
    Row("JSON but not JSON-RPC", b"[1, 2, 3]", MCP_HEADERS, (400,)),
    Row("empty body", b"", MCP_HEADERS, (400,)),
    Row(
        "wrong content type",
        json.dumps(INITIALIZE).encode(),
        [("content-type", "text/plain"), ("accept", MCP_ACCEPT)],
        (415, 400),
    ),
    Row("missing accept", json.dumps(INITIALIZE).encode(), [("content-type", JSON)], (406, 400)),
    Row("missing content type", json.dumps(INITIALIZE).encode(), [("accept", MCP_ACCEPT)], (415, 400)),
    Row("no credentials", json.dumps(INITIALIZE).encode(), MCP_HEADERS, (401,), auth=False),
    Row(
        "duplicate credentials",
        json.dumps(INITIALIZE).encode(),
        [*MCP_HEADERS, ("coder-session-token", "bogus-bogus")],
        (200, 401),
    ),
    Row(
        "duplicate content type",
        json.dumps(INITIALIZE).encode(),
        [*MCP_HEADERS, ("content-type", "text/html")],
        (200, 400, 415),
    ),
    Row("foreign host", json.dumps(INITIALIZE).encode(), [*MCP_HEADERS, ("host", "evil.example")], (400, 200)),
    Row("unknown session", json.dumps(INITIALIZE).encode(), [*MCP_HEADERS, ("mcp-session-id", "x" * 5000)], (400, 404)),
    Row(
        "huge header",
        json.dumps(INITIALIZE).encode(),
        [*MCP_HEADERS, ("x-junk", "j" * 60_000)],
        (200, 400, 431, DROPPED),
    ),
    Row("unsupported method", b"", MCP_HEADERS, (405, 400), method="PUT"),
]


@pytest.mark.parametrize("row", MCP_ROWS, ids=[r.name for r in MCP_ROWS])
def test_mcp_endpoint(row, member, experiments_on, daphne_server):
    response = send(daphne_server, MCP_PATH, row, list(token_headers(member).items()))
    assert_clean(response, row)
    assert_alive(daphne_server)


# ---------------------------------------------------------------------------
# REST (a token-authenticated JSON endpoint)
# ---------------------------------------------------------------------------
TOKENS = "/api/v2/users/me/keys/tokens"
REST_ROWS = [
    Row("oversized body", b'{"token_name": "' + b"a" * 5 * MB + b'"}', [("content-type", JSON)], (400, 413)),
    Row("deeply nested array", NESTED, [("content-type", JSON)], (400,)),
    Row("deeply nested object", NESTED_OBJECT, [("content-type", JSON)], (400,)),
    Row("invalid UTF-8", INVALID_UTF8, [("content-type", JSON)], (400,)),
    Row("not JSON", b"{nope", [("content-type", JSON)], (400,)),
    Row("JSON but not an object", b"[1, 2]", [("content-type", JSON)], (400,)),
    Row("wrong content type", b"token_name=x", [("content-type", "text/plain")], (415,)),
    Row("multipart junk", b"--x\r\n\r\n", [("content-type", "multipart/form-data; boundary=x")], (201, 400, 415)),
    Row("no credentials", b"{}", [("content-type", JSON)], (401,), auth=False),
    Row("duplicate credentials", b"{}", [("content-type", JSON), ("coder-session-token", "bogus-bogus")], (201, 401)),
    Row("huge field", json.dumps({"token_name": "n" * 100_000}).encode(), [("content-type", JSON)], (400,)),
    Row(
        "wrong types", json.dumps({"token_name": ["x"], "lifetime": "soon"}).encode(), [("content-type", JSON)], (400,)
    ),
    Row("path junk", b"", [], (400, 404), method="GET", path="/api/v2/workspaces/%00%ff..%2f..%2fetc"),
    # "²".isdigit() is true but int("²") fails: found by `make fuzz` as a 500.
    Row("a user id with a superscript digit", b"", [], (404,), method="DELETE", path="/api/v2/users/%C2%B21/keys/x"),
    Row("a limit with a superscript digit", b"", [], (400,), method="GET", path="/api/v2/workspaces?limit=%C2%B2"),
    Row("an offset past 64 bits", b"", [], (400,), method="GET", path="/api/v2/workspaces?offset=" + "9" * 25),
    Row("a user id past 64 bits", b"", [], (404,), method="DELETE", path="/api/v2/users/" + "9" * 25 + "/keys/x"),
    Row("very long path", b"", [], (400, 404, 414, DROPPED), method="GET", path="/api/v2/workspace/" + "a" * 20_000),
]


@pytest.mark.parametrize("row", REST_ROWS, ids=[r.name for r in REST_ROWS])
def test_rest(row, member, daphne_server):
    response = send(daphne_server, TOKENS, row, list(token_headers(member).items()))
    assert_clean(response, row)
    assert_alive(daphne_server)


# ---------------------------------------------------------------------------
# OAuth dynamic client registration (anonymous by design)
# ---------------------------------------------------------------------------
REGISTER = "/oauth2/register"
VALID_METADATA = {"redirect_uris": ["http://127.0.0.1:4000/cb"], "client_name": "x"}
REGISTRATION_ROWS = [
    Row("oversized body", b'{"client_name": "' + b"a" * 5 * MB + b'"}', [("content-type", JSON)], (400, 413)),
    Row(
        "just over the registration limit",
        json.dumps({**VALID_METADATA, "x": "a" * 20_000}).encode(),
        [("content-type", JSON)],
        (400,),
    ),
    Row("deeply nested array", NESTED, [("content-type", JSON)], (400,)),
    Row("deeply nested object", NESTED_OBJECT, [("content-type", JSON)], (400,)),
    Row("invalid UTF-8", INVALID_UTF8, [("content-type", JSON)], (400,)),
    Row("not JSON", b"{nope", [("content-type", JSON)], (400,)),
    Row("wrong content type", json.dumps(VALID_METADATA).encode(), [("content-type", "text/plain")], (201, 400, 415)),
    Row("no content type", json.dumps(VALID_METADATA).encode(), [], (201, 400, 415)),
    Row(
        "duplicate content type",
        json.dumps(VALID_METADATA).encode(),
        [("content-type", JSON), ("content-type", "text/xml")],
        (201, 400, 415),
    ),
    Row(
        "redirect URI flood",
        json.dumps({"redirect_uris": [f"http://127.0.0.1/{i}" for i in range(5000)]}).encode()[:16000],
        [("content-type", JSON)],
        (400,),
    ),
    Row(
        "wrong types",
        json.dumps({"redirect_uris": "http://127.0.0.1/cb", "grant_types": {"a": 1}}).encode(),
        [("content-type", JSON)],
        (400,),
    ),
    Row(
        "NUL in name",
        json.dumps({**VALID_METADATA, "client_name": "a\u0000b"}).encode(),
        [("content-type", JSON)],
        (201, 400),
    ),
]


@pytest.mark.parametrize("row", REGISTRATION_ROWS, ids=[r.name for r in REGISTRATION_ROWS])
def test_oauth_registration(row, experiments_on, daphne_server):
    response = send(daphne_server, REGISTER, row, [])
    assert_clean(response, row)
    assert_alive(daphne_server)


# ---------------------------------------------------------------------------
# Tool arguments: the SDK client against a running workspace, limits and sandbox as in
# production (sandboxed when bwrap works here), 512 MiB of address space per process.
# ---------------------------------------------------------------------------
MEMORY_LIMIT_MB = 512
CONCURRENT_WRITES = 10


@dataclass(frozen=True)
class ToolRow:
    name: str
    attack: Callable[[Any, dict], Awaitable[None]]


async def call(client, tool: str, **arguments) -> Any:
    return await client.call_tool(tool, {"workspace": "dev", **arguments})


def refused(result, *phrases: str) -> None:
    """A tool error (never a protocol error or a traceback) saying each of ``phrases``."""
    text = result.content[0].text
    assert result.is_error, text
    assert "Traceback" not in text
    for phrase in phrases:
        assert phrase in text, text


async def bash(client, command: str, **arguments) -> dict:
    result = await call(client, "coder_workspace_bash", command=command, **arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def huge_argument(client, ctx) -> None:
    with pytest.raises(MCPError) as error:  # the SDK's words for the endpoint's 413 (below)
        await call(client, "coder_workspace_bash", command="x" * 10 * MB)
    assert error.value.error.message == "Server returned an error response"
    call_body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "coder_workspace_bash"}}
    call_body["params"]["arguments"] = {"workspace": "dev", "command": "x" * 10 * MB}
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(
            ctx["url"], json=call_body, headers={**ctx["headers"], "accept": MCP_ACCEPT, "content-type": JSON}
        )
    assert answer.status_code == 413 and answer.json() == {"message": "Request body too large"}


async def long_command(client, ctx) -> None:
    refused(await call(client, "coder_workspace_bash", command="echo " + "x" * 200_000), "limit is 100000", "command")


async def dot_dot(client, ctx) -> None:
    refused(await call(client, "coder_workspace_read_file", path=f"{ctx['home']}/../../etc/passwd"), "'..'", "path")
    content = base64.b64encode(b"pwned").decode()
    refused(await call(client, "coder_workspace_write_file", path="~/../escaped.txt", content=content), "'..'")


async def absolute_outside(client, ctx) -> None:
    refused(await call(client, "coder_workspace_read_file", path="/etc/passwd"), "outside the workspace")
    content = base64.b64encode(b"pwned").decode()
    refused(await call(client, "coder_workspace_write_file", path="/etc/pwned", content=content), "outside")
    assert not Path("/etc/pwned").exists()


async def symlink_escape(client, ctx) -> None:
    await bash(client, "ln -s /etc etc-link && ln -s /etc/passwd passwd-link")
    refused(await call(client, "coder_workspace_read_file", path="~/passwd-link"), "outside the workspace")
    refused(await call(client, "coder_workspace_read_file", path="~/etc-link/passwd"), "outside the workspace")
    content = base64.b64encode(b"pwned").decode()
    refused(await call(client, "coder_workspace_write_file", path="~/etc-link/pwned", content=content), "outside")
    refused(await call(client, "coder_workspace_ls", path="~/etc-link"), "outside the workspace")
    assert not Path("/etc/pwned").exists()


async def nul_byte(client, ctx) -> None:
    refused(await call(client, "coder_workspace_read_file", path="~/a\u0000b"), "NUL byte")
    refused(await call(client, "coder_workspace_bash", command="echo a\u0000b"), "NUL byte")


async def long_path(client, ctx) -> None:
    content = base64.b64encode(b"x").decode()
    refused(await call(client, "coder_workspace_write_file", path="~/" + "d/" * 2500, content=content), "limit is 4096")


async def long_name(client, ctx) -> None:
    content = base64.b64encode(b"x").decode()
    refused(await call(client, "coder_workspace_write_file", path="~/" + "n" * 300, content=content), "limit is 255")


async def output_flood(client, ctx) -> None:
    out = await bash(client, "yes | head -c 50000000")
    assert out["exit_code"] == 0
    assert len(out["output"]) < 300_000 and "[output truncated: 50000000 bytes" in out["output"]


async def fork_bomb(client, ctx) -> None:
    out = await bash(client, ":(){ :|:& };:", timeout_ms=10_000)
    if pids_cgroup_base() is not None:  # held at the workspace's limit, then killed
        note = PROCESS_LIMIT_NOTE.format(limit=settings.CODER_WORKSPACE_MAX_PROCESSES)
        assert note in out["output"], out["output"][-500:]
    deadline = time.monotonic() + 30
    while _tagged_pids(ctx["workspace_id"]):
        assert time.monotonic() < deadline, "the fork bomb outlived its command"
        await asyncio.sleep(0.1)


async def memory_hog(client, ctx) -> None:
    out = await bash(client, "python3 -c 'bytearray(2 * 1024**3)'")
    assert out["exit_code"] == 1 and "MemoryError" in out["output"], out


async def concurrent_writes(client, ctx) -> None:
    contents = [bytes([65 + index]) * 200_000 for index in range(CONCURRENT_WRITES)]
    results = await asyncio.gather(
        *(
            call(client, "coder_workspace_write_file", path="~/same.txt", content=base64.b64encode(content).decode())
            for content in contents
        )
    )
    assert not any(result.is_error for result in results), [r.content[0].text for r in results if r.is_error]
    assert (Path(ctx["home"]) / "same.txt").read_bytes() in contents  # one whole write, never a mix
    assert not [p for p in Path(ctx["home"]).iterdir() if p.name.endswith(".tmp")]  # no temporaries left


TOOL_ROWS = [
    ToolRow("huge argument (10 MB)", huge_argument),
    ToolRow("command over 100000 bytes", long_command),
    ToolRow("'..' in the path", dot_dot),
    ToolRow("absolute path outside", absolute_outside),
    ToolRow("symlink escape", symlink_escape),
    ToolRow("NUL byte", nul_byte),
    ToolRow("5000-byte path", long_path),
    ToolRow("300-byte name", long_name),
    ToolRow("output flood (50 MB)", output_flood),
    ToolRow("fork bomb", fork_bomb),
    ToolRow("memory hog", memory_hog),
    ToolRow(f"{CONCURRENT_WRITES} concurrent writes to one file", concurrent_writes),
]


@pytest.fixture
def running_workspace(member, starter, settings, experiments_on) -> dict:  # noqa: F811
    """The member's running workspace, built (in production's sandbox) before the server forks."""
    settings.CODER_WORKSPACE_SANDBOX = "auto"
    settings.CODER_WORKSPACE_MAX_MEMORY_MB = MEMORY_LIMIT_MB
    workspace = workspace_create(
        actor=member, owner="me", template_version_id=starter.active_version_id, name="dev", rich_parameters={}
    )
    run_jobs()
    workspace.refresh_from_db()
    assert workspace.status == "running"
    return {"workspace_id": str(workspace.id), "home": str(workspace_directory(workspace.id))}


@pytest.mark.slow
@pytest.mark.parametrize("row", TOOL_ROWS, ids=[r.name for r in TOOL_ROWS])
def test_tool_arguments(row, member, running_workspace, daphne_server):
    headers = token_headers(member)

    async def scenario():
        async with mcp_client(daphne_server + MCP_PATH, headers=headers) as client:
            await row.attack(client, {**running_workspace, "url": daphne_server + MCP_PATH, "headers": headers})
            alive = await bash(client, "echo alive")  # the workspace and the endpoint still serve
            assert alive["output"] == "alive\n"

    async_to_sync(scenario)()
    assert_alive(daphne_server)
