"""The bad-input table: hostile requests against each surface of a real server.

Every row asserts a clean answer (an expected status, or a tool error), never a 500 or a
traceback, and that the server still answers afterwards. One parametrized test per surface:
the MCP endpoint (HTTP), REST, OAuth registration.
"""

import json
from dataclasses import dataclass, field

import httpx
import pytest

from tests.mcp_server.conftest import MCP_PATH, token_headers
from tests.workspaces.conftest import run_jobs, starter, workspaces_dir  # noqa: F401 (shared fixtures)

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
