"""Fuzzing the real server: schemathesis against the REST API's OpenAPI document, and
hypothesis-generated JSON-RPC bodies, headers and tool arguments against the MCP endpoint.
Zero 5xx, zero tracebacks, and the server still answers afterwards.

Bounded for the suite (``FUZZ_EXAMPLES``, default 10 per operation / 60 MCP messages);
``make fuzz`` runs the long version.
"""

import json
import os

import httpx
import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # noqa: F401 (loaded at collection, not deep inside a test)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mcp_server.conftest import MCP_PATH, token_headers

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
MCP_EXAMPLES = int(os.environ.get("FUZZ_MCP_EXAMPLES", str(6 * EXAMPLES)))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # CI: the same cases every run
    suppress_health_check=list(HealthCheck),
    database=None,
)
counts = {"rest": 0, "mcp": 0}


@schemathesis.serializer("application/x-tar")
def tar_bytes(ctx, value) -> bytes:
    """Template archives (``POST /api/v2/files``): whatever was generated, as raw bytes."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


pytestmark = pytest.mark.slow


@pytest.fixture
def experiments_on(enable_experiments) -> None:
    enable_experiments("mcp-server-http", "oauth2")


@pytest.fixture
def member_token(member) -> dict[str, str]:
    return token_headers(member)


def test_rest_api(member_token, experiments_on, daphne_server):
    """Every operation of /api/v2/openapi.json, with schemathesis-generated cases, authenticated."""
    schema = schemathesis.openapi.from_url(daphne_server + "/api/v2/openapi.json", headers=member_token)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lists the API"
    failures = []
    for operation in operations:

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def one(case):
            response = case.call(base_url=daphne_server, headers=member_token, timeout=30)
            counts["rest"] += 1
            if response.status_code >= 500 or "Traceback" in response.text:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

        one()
    assert not failures, failures
    assert httpx.get(daphne_server + "/healthz", timeout=10).status_code == 200


# ---------------------------------------------------------------------------
# MCP: JSON-RPC messages in an initialized session
# ---------------------------------------------------------------------------
TOOLS = [
    "coder_get_authenticated_user",
    "coder_list_workspaces",
    "coder_get_workspace",
    "coder_create_workspace",
    "coder_create_workspace_build",
    "coder_list_templates",
    "coder_template_version_parameters",
    "coder_workspace_bash",
    "coder_workspace_ls",
    "coder_workspace_read_file",
    "coder_workspace_write_file",
    "coder_workspace_edit_file",
]
ARGUMENT_NAMES = [
    "workspace",
    "workspace_id",
    "path",
    "command",
    "content",
    "edits",
    "transition",
    "owner",
    "timeout_ms",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
arguments = st.dictionaries(st.sampled_from(ARGUMENT_NAMES) | st.text(max_size=10), json_values, max_size=5)
methods = st.sampled_from(
    ["tools/call", "tools/list", "ping", "resources/list", "prompts/list", "initialize"]
) | st.text(max_size=20)
messages = (
    st.fixed_dictionaries(
        {
            "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
            "method": methods,
            "params": st.one_of(
                st.fixed_dictionaries({"name": st.sampled_from(TOOLS) | st.text(max_size=20), "arguments": arguments}),
                json_values,
            ),
        },
        optional={"id": st.integers() | st.text(max_size=10) | st.none()},
    )
    | json_values
)
# Values an HTTP client can send: h11 refuses leading or trailing spaces.
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
extra_headers = st.dictionaries(
    st.sampled_from(["accept", "content-type", "mcp-protocol-version", "mcp-session-id", "origin", "last-event-id"]),
    header_values,
    max_size=3,
)


@pytest.fixture
def mcp_session(member_token, experiments_on, daphne_server) -> dict[str, str]:
    """Headers of an initialized 2025-11-25 session for the member."""
    headers = {**member_token, "content-type": "application/json", "accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}},
    }
    response = httpx.post(daphne_server + MCP_PATH, json=init, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    headers["mcp-session-id"] = response.headers["mcp-session-id"]
    notified = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(daphne_server + MCP_PATH, json=notified, headers=headers, timeout=30).status_code == 202
    return headers


def test_mcp_messages(mcp_session, daphne_server):
    url = daphne_server + MCP_PATH

    @settings(FUZZ_SETTINGS, max_examples=MCP_EXAMPLES)
    @given(message=messages, extra=extra_headers, raw=st.booleans())
    def one(message, extra, raw):
        body = json.dumps(message).encode()
        if raw:  # a few bytes flipped: broken JSON and encodings
            body = body[: len(body) // 2] + b"\xff\x00" + body[len(body) // 2 :]
        with httpx.Client(timeout=30) as client:
            response = client.post(url, content=body, headers={**mcp_session, **extra})
            text = response.read().decode(errors="replace")
        counts["mcp"] += 1
        assert response.status_code < 500, f"{message!r} {extra!r}: {response.status_code} {text[:300]}"
        assert "Traceback" not in text

    one()
    assert httpx.get(daphne_server + "/healthz", timeout=10).status_code == 200
    listed = httpx.post(url, json={"jsonrpc": "2.0", "id": 99, "method": "tools/list"}, headers=mcp_session, timeout=30)
    assert listed.status_code == 200 and "coder_workspace_bash" in listed.text, "the session still works"


def test_zz_report_fuzz_counts(capsys):
    """Print the figures (runs after the fuzz tests in file order)."""
    with capsys.disabled():
        print(f"\nfuzz cases run: REST {counts['rest']}, MCP {counts['mcp']}")
    assert counts["rest"] + counts["mcp"] > 0 or os.environ.get("PYTEST_XDIST_WORKER")
