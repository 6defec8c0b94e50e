"""The MCP endpoint as an ASGI app: request checks in front of the SDK's session manager.

Order of checks (each answers with a JSON body and never reaches the SDK):
Host (DNS rebinding) → Origin (browsers) → authentication (401, ``mcp_server.auth``) →
experiment (403, after authentication as in Coder) → ``?toolset=`` (400).

Then the request goes to the SDK's Streamable HTTP session manager, which serves
2025-xx clients with sessions and 2026-07-28 clients statelessly. The manager's own
Host/Origin protection stays off: these checks replace it, driven by our settings.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.bearer_auth import authorization_context
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.types import Message, Receive, Scope, Send

from coderproject import experiments
from mcp_server import auth, selectors, services
from mcp_server.db import run_orm
from mcp_server.lifecycle import REPLY_AS_JSON, ManagedServer
from oauth.authentication import AuthError, unauthorized_response

logger = logging.getLogger(__name__)

TOOLSETS = ("standard",)
# What the endpoint answers (docs/mcp-server.md quotes these; a test keeps them in step).
INVALID_HOST = "Invalid Host header"
ORIGIN_NOT_ALLOWED = "Origin not allowed"
ORIGIN_HINT = "Add it to CODER_MCP_ALLOWED_ORIGINS."
INVALID_TOOLSET = "Invalid toolset: {}"
NOT_RUNNING = "The MCP server is not running."
_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode()


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def request_host(scope: Scope) -> str | None:
    """The host the client asked for: ``X-Forwarded-Host`` only when configured to trust it, as Django does."""
    forwarded = header(scope, b"x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    return forwarded.split(",")[0].strip() if forwarded else header(scope, b"host")


def host_allowed(host: str | None) -> bool:
    """Django's own rule (``ALLOWED_HOSTS``, wildcards included), applied to the raw Host header."""
    if not host:
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def origin_allowed(origin: str | None, host: str) -> bool:
    """No Origin (a native client) is fine; a browser's must be same-origin, the access URL's or allow-listed.

    Same-origin is safe because the Host header was validated first (DNS rebinding).
    """
    if origin is None:
        return True
    origin = origin.rstrip("/")
    return origin in settings.CODER_MCP_ALLOWED_ORIGINS or origin.partition("://")[2] == host


def flush_event_stream_headers(send: Send) -> Send:
    """Daphne (Twisted) writes a response's headers only with its first body bytes, so a GET
    event stream whose first event is far off left the client waiting (until the 15 s
    keep-alive) to learn the stream was open; an empty chunk right after the start sends them."""

    async def wrapped(message: dict) -> None:
        await send(message)
        if message["type"] == "http.response.start" and any(
            name.lower() == b"content-type" and value.startswith(b"text/event-stream")
            for name, value in message.get("headers", [])
        ):
            await send({"type": "http.response.body", "body": b"", "more_body": True})

    return wrapped


class MCPEndpoint:
    """The ASGI app routed at ``/api/experimental/mcp/http`` (and the conformance fixture's path)."""

    def __init__(self, managed: ManagedServer, *, experiment: str | None, authenticate: bool = True) -> None:
        self.managed = managed
        self.experiment = experiment
        self.authenticate = authenticate
        self._last_touch: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = request_host(scope)
        if not host_allowed(host):
            await send_json(send, 400, {"message": INVALID_HOST})
            return
        if not origin_allowed(header(scope, b"origin"), host):
            await send_json(send, 403, {"message": ORIGIN_NOT_ALLOWED, "detail": ORIGIN_HINT})
            return
        user_id = None
        if self.authenticate:
            try:
                credential = await auth.authenticate(scope)
            except AuthError as error:
                status, body, headers = unauthorized_response(error)
                await send_json(send, status, body, headers)
                return
            auth.bind(scope, credential)
            user_id = credential.user.pk
        if self.experiment and not experiments.is_enabled(self.experiment):
            await send_json(send, 403, {"message": experiments.disabled_message(self.experiment)})
            return
        toolset = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("toolset", ["standard"])[-1]
        if toolset not in TOOLSETS:
            await send_json(send, 400, {"message": INVALID_TOOLSET.format(toolset)})
            return
        try:
            manager = await self.managed.ensure_running()
        except RuntimeError as exc:
            await send_json(send, 503, {"message": NOT_RUNNING, "detail": str(exc)})
            return

        send = flush_event_stream_headers(send)
        message = None  # the parsed body of a POST
        if scope["method"] == "POST":
            buffered = await _buffer_body(receive)
            if buffered is None:
                await send_json(send, 413, {"message": "Request body too large"})
                return
            body, receive = buffered
            message = _parsed(body)
        session_id = header(scope, _SESSION_HEADER)
        if session_id is None:
            send = self._recording_opened_session(send, message, user_id=user_id)
        else:
            if not manager.is_live(session_id) and self.authenticate:
                await self._restore(manager, scope, session_id, user_id=user_id)
            if manager.is_live(session_id) and not await self._touch(session_id):
                await manager.end_session(session_id)  # an operator ended it: the SDK now answers 404
        # Set after _restore: the tasks of a restored session must not inherit it.
        reply_as_json = REPLY_AS_JSON.set(manager.answered_alone(message))
        try:
            await manager.handle_request(scope, receive, send)
        finally:
            REPLY_AS_JSON.reset(reply_as_json)
        if session_id is not None and not manager.is_live(session_id):
            self._last_touch.pop(session_id, None)

    async def _restore(self, manager, scope: Scope, session_id: str, *, user_id: int | None) -> None:
        """Take over an open session of this user that another worker process started."""
        record = await run_orm(selectors.mcp_session_open_for_user, session_id=session_id, user_id=user_id)
        if record is None:
            return  # unknown, ended or someone else's: the SDK answers 404
        await manager.restore_session(
            session_id,
            authorization_context(scope["user"]),
            protocol_version=record.protocol_version,
            client_info={"name": record.client_name, "version": record.client_version},
            client_capabilities=record.client_capabilities,
        )

    async def _touch(self, session_id: str) -> bool:
        """Refresh the record at most once per interval; False if the record was ended."""
        now = time.monotonic()
        if now - self._last_touch.get(session_id, 0.0) < settings.CODER_MCP_SESSION_TOUCH_INTERVAL:
            return True
        self._last_touch[session_id] = now
        return await run_orm(services.mcp_session_touch, session_id=session_id)

    def _recording_opened_session(self, send: Send, message: Any, *, user_id: int | None) -> Send:
        """For a request without a session id: if it opens one (initialize), record it before answering."""
        initialize = _initialize_params(message)
        if initialize is None:
            return send

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                session_id = next((v.decode() for k, v in message.get("headers", []) if k == _SESSION_HEADER), None)
                if session_id:
                    await run_orm(services.mcp_session_open, session_id=session_id, user_id=user_id, **initialize)
                    self._last_touch[session_id] = time.monotonic()
            await send(message)

        return recording_send


async def _buffer_body(receive: Receive) -> tuple[bytes, Callable[[], Awaitable[Message]]] | None:
    """Read the whole request body, and a ``receive`` that hands it to the next app again.

    None when the body exceeds the SDK's limit (the SDK would refuse it too).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > DEFAULT_MAX_REQUEST_BODY_SIZE:
            return None
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _parsed(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON (the SDK answers that)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting; the SDK answers 400
        return None


def _initialize_params(message: Any) -> dict[str, Any] | None:
    """Client name/version and protocol version of an ``initialize`` request, else None."""
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return None
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    client = params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else {}
    capabilities = params.get("capabilities")
    return {
        "client_name": str(client.get("name", "")),
        "client_version": str(client.get("version", "")),
        "protocol_version": str(params.get("protocolVersion", "")),
        "client_capabilities": capabilities if isinstance(capabilities, dict) else {},
    }


# ---------------------------------------------------------------------------
# The apps routed by coderproject/asgi.py
# ---------------------------------------------------------------------------
def _build_standard():
    from mcp_server.server import build_server

    return build_server()


def _build_conformance():
    from mcp_server.conformance import build_fixture_server

    return build_fixture_server()


standard = ManagedServer("standard", _build_standard)
application = MCPEndpoint(standard, experiment=experiments.MCP_SERVER_HTTP)


def conformance_fixture_enabled() -> bool:
    return settings.CODER_MCP_CONFORMANCE_FIXTURE and settings.DEBUG


class ConformanceFixtureEndpoint(MCPEndpoint):
    """The official conformance suite's fixture: no credentials, development only (coder.E003)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not conformance_fixture_enabled():
            await send_json(send, 404, {"message": "Not found"})
            return
        await super().__call__(scope, receive, send)


conformance = ManagedServer("conformance", _build_conformance)
conformance_application = ConformanceFixtureEndpoint(conformance, experiment=None, authenticate=False)


def managed_servers() -> list[ManagedServer]:
    return [standard, conformance] if conformance_fixture_enabled() else [standard]


def failed_servers() -> list[str]:
    """Names of the session managers that died in this process (``/healthz`` reports them)."""
    return [managed.name for managed in managed_servers() if managed.failed]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI lifespan (uvicorn): start the session managers up front and stop them cleanly."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                for managed in managed_servers():
                    await managed.ensure_running()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for managed in managed_servers():
                await managed.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
