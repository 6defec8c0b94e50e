"""The Streamable HTTP transport under Channels: sessions, both protocol eras, request checks."""

import json
import os
import threading
import time

import httpx
import pytest
from asgiref.sync import async_to_sync

from mcp_server.db import run_orm
from mcp_server.models import MCPSession
from mcp_server.services import mcp_sessions_end
from tests.mcp_server.conftest import MCP_PATH, mcp_client, token_headers

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-test-client", "version": "9.9"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def open_session(url: str, **headers: str) -> str:
    response = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers})
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    session_headers = {**MCP_HEADERS, **headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    assert httpx.post(url, json=initialized, headers=session_headers).status_code == 202
    return session_id


def ping(url: str, session_id: str, **headers: str) -> httpx.Response:
    session_headers = {**MCP_HEADERS, **headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=session_headers)


def test_session_path_initializes_and_is_recorded(member, member_headers, mcp_url):
    async def scenario():
        async with mcp_client(mcp_url, headers=member_headers) as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_info.name == "coder"
            assert "coder_create_workspace" in client.instructions
            await client.list_tools()

    async_to_sync(scenario)()
    record = MCPSession.objects.get()
    assert record.protocol_version == "2025-11-25"
    assert record.client_name == "mcp"
    assert record.user == member
    # The server ends the record once the DELETE has been answered: wait for it.
    deadline = time.monotonic() + 10
    while MCPSession.objects.get().ended_at is None:
        assert time.monotonic() < deadline, "the client's DELETE did not end the record"
        time.sleep(0.05)
    assert MCPSession.objects.get().end_reason == "closed"


def test_stateless_2026_path_needs_no_session(member_headers, mcp_url):
    async def scenario():
        async with mcp_client(mcp_url, headers=member_headers, mode="2026-07-28") as client:
            assert client.protocol_version == "2026-07-28"
            return await client.list_tools()

    assert async_to_sync(scenario)().tools is not None
    assert not MCPSession.objects.exists()


def test_deleted_session_answers_404(member_headers, mcp_url):
    session_id = open_session(mcp_url, **member_headers)
    assert ping(mcp_url, session_id, **member_headers).status_code == 200
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    assert httpx.delete(mcp_url, headers=headers).status_code == 200
    assert ping(mcp_url, session_id, **member_headers).status_code == 404
    assert ping(mcp_url, "no-such-session", **member_headers).status_code == 404


def test_another_users_session_answers_404(member, member_headers, stranger_headers, mcp_url):
    session_id = open_session(mcp_url, **member_headers)
    assert ping(mcp_url, session_id, **stranger_headers).status_code == 404
    assert ping(mcp_url, session_id, **member_headers).status_code == 200, "the owner's session is untouched"
    assert ping(mcp_url, session_id, **token_headers(member)).status_code == 200, "any token of the same user"


@pytest.fixture
def touch_every_request(settings) -> None:
    settings.CODER_MCP_SESSION_TOUCH_INTERVAL = 0


@pytest.fixture
def conformance_fixture_on(settings) -> None:
    settings.CODER_MCP_CONFORMANCE_FIXTURE = True
    settings.DEBUG = True  # pytest-django turns it off; the fixture exists only with it on


def test_operator_ended_session_answers_404(touch_every_request, member_headers, mcp_url):
    session_id = open_session(mcp_url, **member_headers)
    record = MCPSession.objects.get(id=session_id)
    assert (record.client_name, record.client_version) == ("raw-test-client", "9.9")
    assert mcp_sessions_end(sessions=MCPSession.objects.filter(id=session_id)) == 1
    assert ping(mcp_url, session_id, **member_headers).status_code == 404
    assert MCPSession.objects.get(id=session_id).end_reason == "operator"


def test_experiment_off_is_403_with_coders_message(member_headers, daphne_server):
    response = httpx.post(daphne_server + MCP_PATH, json=INITIALIZE, headers={**MCP_HEADERS, **member_headers})
    assert response.status_code == 403
    assert response.json() == {
        "message": "This functionality requires enabling the following experiments: mcp-server-http"
    }


def test_unknown_toolset_is_400(member_headers, mcp_url):
    headers = {**MCP_HEADERS, **member_headers}
    response = httpx.post(mcp_url + "?toolset=everything", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid toolset: everything"}
    assert httpx.post(mcp_url + "?toolset=standard", json=INITIALIZE, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example.com"}, 403),
        ({"Host": "evil.example.com"}, 400),
    ],
)
def test_foreign_origin_and_host_are_refused(member_headers, mcp_url, headers, status):
    response = httpx.post(mcp_url, json=INITIALIZE, headers={**MCP_HEADERS, **member_headers, **headers})
    assert response.status_code == status
    assert "message" in response.json()


@pytest.fixture
def trust_forwarded_host(settings) -> None:
    settings.USE_X_FORWARDED_HOST = True


def test_forwarded_host_is_checked_when_trusted(trust_forwarded_host, member_headers, mcp_url):
    headers = {**MCP_HEADERS, **member_headers}
    refused = httpx.post(mcp_url, json=INITIALIZE, headers={**headers, "X-Forwarded-Host": "evil.example.com"})
    assert refused.status_code == 400
    same_origin = {**headers, "X-Forwarded-Host": "localhost:8443", "Origin": "https://localhost:8443"}
    assert httpx.post(mcp_url, json=INITIALIZE, headers=same_origin).status_code == 200


def test_access_url_origin_is_allowed(settings, member_headers, mcp_url):
    headers = {**MCP_HEADERS, **member_headers, "Origin": settings.CODER_ACCESS_ORIGIN}
    response = httpx.post(mcp_url, json=INITIALIZE, headers=headers)
    assert response.status_code == 200


def test_conformance_fixture_is_absent_by_default(daphne_server):
    response = httpx.post(daphne_server + "/api/experimental/mcp/conformance", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 404


def test_conformance_fixture_serves_the_suites_names_when_enabled(conformance_fixture_on, daphne_server):
    url = daphne_server + "/api/experimental/mcp/conformance"

    async def scenario():
        async with mcp_client(url) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("test_simple_text", {})
            return tools, result

    tools, result = async_to_sync(scenario)()
    assert {"test_simple_text", "test_tool_with_progress", "test_sampling", "test_reconnection"} <= tools
    assert "json_schema_2020_12_tool" in tools
    assert result.content[0].text == "This is a simple text response for testing."


def test_healthz_reports_the_session_manager(member_headers, mcp_url):
    assert ping(mcp_url, open_session(mcp_url, **member_headers), **member_headers).status_code == 200
    response = httpx.get(mcp_url.replace(MCP_PATH, "/healthz"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_orm_calls_run_in_parallel_not_on_one_thread():
    """Two ORM calls that each wait for the other only finish if they run at the same time."""
    barrier = threading.Barrier(2, timeout=10)

    def meet() -> int:
        barrier.wait()
        return threading.get_ident()

    async def both():
        import asyncio

        return await asyncio.gather(run_orm(meet), run_orm(meet))

    first, second = async_to_sync(both)()
    assert first != second


def test_another_worker_restores_an_open_session(
    touch_every_request, member_headers, stranger_headers, mcp_url, second_daphne_server
):
    """``server --workers N``: a client's next connection may land on another process."""
    session_id = open_session(mcp_url, **member_headers)
    other_worker = second_daphne_server + MCP_PATH
    assert ping(other_worker, session_id, **stranger_headers).status_code == 404, "only its user restores it"
    assert ping(other_worker, session_id, **member_headers).status_code == 200
    tools = httpx.post(
        other_worker,
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
        headers={**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"},
    )
    assert tools.status_code == 200 and "coder_workspace_bash" in tools.text
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    assert httpx.delete(other_worker, headers=headers).status_code == 200
    deadline = time.monotonic() + 10
    while MCPSession.objects.get(id=session_id).ended_at is None:
        assert time.monotonic() < deadline, "the DELETE on the other worker did not end the record"
        time.sleep(0.05)
    # The first worker still holds it in memory; its next look at the record ends it there too.
    assert ping(mcp_url, session_id, **member_headers).status_code == 404


def sse_events(response: httpx.Response, *, until_result: bool = True) -> list[dict]:
    """SSE events (id and JSON data) of a streamed response, up to the first JSON-RPC result."""
    events, current = [], {}
    for line in response.iter_lines():
        if line.startswith("id:"):
            current["id"] = line[3:].strip()
        elif line.startswith("data:") and line[5:].strip():
            current["data"] = json.loads(line[5:])
        elif not line and current:
            events.append(current)
            if until_result and "result" in current.get("data", {}):
                break
            current = {}
    return events


def final_message(response: httpx.Response) -> dict:
    """The JSON-RPC answer of a POST, whether it came as one JSON body or at the end of an SSE stream."""
    if response.headers["content-type"].startswith("application/json"):
        return json.loads(response.read())
    return sse_events(response)[-1]["data"]


def streaming_call(request_id: int) -> dict:
    """A call answered on an SSE stream: the tool takes a Context (it may log and report progress)."""
    arguments = {"workspace_build_id": "00000000-0000-0000-0000-000000000000"}
    params = {"name": "coder_get_workspace_build_logs", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def test_a_lost_stream_is_resumed_with_last_event_id(member_headers, stranger_headers, mcp_url):
    session_id = open_session(mcp_url, **member_headers)
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    with httpx.stream("POST", mcp_url, json=streaming_call(7), headers=headers) as response:
        events = sse_events(response)
    priming = events[0]["id"]
    assert events[-1]["data"]["id"] == 7 and "Resource not found" in events[-1]["data"]["result"]["content"][0]["text"]
    # The client "lost" everything after the priming event: it resumes from there.
    resume = {**headers, "Accept": "text/event-stream", "Last-Event-ID": priming}
    with httpx.stream("GET", mcp_url, headers=resume, timeout=10) as response:
        assert response.status_code == 200
        replayed = sse_events(response)
    assert replayed[-1]["data"] == events[-1]["data"]
    stranger = {**resume, **stranger_headers}
    assert httpx.get(mcp_url, headers=stranger, timeout=10).status_code == 404


def test_a_request_answered_alone_gets_json_and_one_that_may_stream_gets_sse(member_headers, mcp_url):
    """tools/list, ping and calls of tools without a Context get one JSON body (half the
    server's work); a call of a tool that may log or report progress keeps its SSE stream."""
    session_id = open_session(mcp_url, **member_headers)
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}

    def post(message: dict) -> httpx.Response:
        return httpx.post(mcp_url, json={"jsonrpc": "2.0", **message}, headers=headers, timeout=10)

    tools = post({"id": 1, "method": "tools/list"})
    assert tools.headers["content-type"] == "application/json" and len(tools.json()["result"]["tools"]) == 21
    assert post({"id": 2, "method": "ping"}).json() == {"jsonrpc": "2.0", "id": 2, "result": {}}
    me = post({"id": 3, "method": "tools/call", "params": {"name": "coder_get_authenticated_user"}})
    assert me.headers["content-type"] == "application/json"
    assert me.json()["result"]["structuredContent"]["username"] == "mike"
    with httpx.stream("POST", mcp_url, json=streaming_call(4), headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert sse_events(response)[-1]["data"]["id"] == 4
    # Hostile shapes of a call are not "answered alone": the SDK answers them as before.
    odd = post({"id": 5, "method": "tools/call", "params": {"name": ["coder_get_authenticated_user"]}})
    assert odd.status_code in (200, 400) and "Traceback" not in odd.text


def test_get_stream_headers_arrive_before_any_event(member_headers, mcp_url):
    """A client learns at once that its GET stream is open, not at the first keep-alive (15 s)."""
    session_id = open_session(mcp_url, **member_headers)
    headers = {**member_headers, "Accept": "text/event-stream", "Mcp-Session-Id": session_id}
    with httpx.stream("GET", mcp_url, headers=headers, timeout=httpx.Timeout(5.0)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")


needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set by .ci/run)")


@needs_redis
def test_a_lost_stream_resumes_on_another_worker(member_headers, mcp_url, second_daphne_server):
    """Production: events live in Redis, so the worker a client reconnects to can replay them."""
    session_id = open_session(mcp_url, **member_headers)
    headers = {**MCP_HEADERS, **member_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    with httpx.stream("POST", mcp_url, json=streaming_call(8), headers=headers) as response:
        priming = sse_events(response)[0]["id"]
    resume = {**headers, "Accept": "text/event-stream", "Last-Event-ID": priming}
    with httpx.stream("GET", second_daphne_server + MCP_PATH, headers=resume, timeout=10) as response:
        assert response.status_code == 200
        replayed = sse_events(response)
    assert replayed[-1]["data"]["id"] == 8


@needs_redis
def test_redis_event_store_is_bounded_and_per_session():
    from mcp_types import JSONRPCResponse

    from mcp_server.events import RedisSessionEventStore

    async def scenario():
        mine = RedisSessionEventStore(f"test-{time.monotonic_ns()}", max_events=3)
        theirs = RedisSessionEventStore(f"test-{time.monotonic_ns()}-other")
        ids = [await mine.store_event("s1", JSONRPCResponse(jsonrpc="2.0", id=n, result={"n": n})) for n in range(5)]
        await mine.store_event("s2", JSONRPCResponse(jsonrpc="2.0", id=99, result={}))
        seen = []

        async def collect(event):
            seen.append(event.message.id)

        evicted = await mine.replay_events_after(ids[0], collect)
        kept = await mine.replay_events_after(ids[3], collect)
        foreign = await theirs.replay_events_after(ids[3], collect)
        assert await mine.replay_events_after("\u00b2", collect) is None  # a digit int() refuses: no 500
        return evicted, kept, foreign, seen

    evicted, kept, foreign, seen = async_to_sync(scenario)()
    assert evicted is None  # only the last 3 events are kept
    assert kept == "s1" and seen == [4]  # the same stream only (not s2's event), after the given id
    assert foreign is None


def test_the_tool_list_cache_keeps_answers_to_requests_only():
    """A notification named tools/list (fuzzing sent one) has no answer: nothing is cached and
    nothing raises; the next request is answered and its answer kept."""
    import asyncio
    from types import SimpleNamespace

    from mcp_server.server import ToolListCache

    cache, calls = ToolListCache(), []

    async def call_next(ctx):
        calls.append(ctx.request_id)
        return None if ctx.request_id is None else {"tools": ["t"]}

    def context(request_id):
        return SimpleNamespace(method="tools/list", request_id=request_id, params=None, protocol_version="2025-11-25")

    async def scenario():
        return [await cache(context(rid), call_next) for rid in (None, 1, 2)]

    assert asyncio.run(scenario()) == [None, {"tools": ["t"]}, {"tools": ["t"]}]
    assert calls == [None, 1], "the second request is served from the cache"
