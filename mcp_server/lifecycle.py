"""Running the SDK's session manager inside our ASGI servers.

The manager must be inside ``async with manager.run()`` before it serves a request.
Daphne (and so Channels) sends no ASGI lifespan events, so the first request starts it
in a background task; uvicorn sends them, and the lifespan handler in ``mcp_server.asgi``
starts it up front. Either way the task runs in a fresh ``contextvars.Context``: a task
inherits its creator's context, and sessions spawned from the first request's context
would otherwise see that request's caller in every later tool call.
"""

import asyncio
import contextvars
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskStatus
from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.connection import Connection
from mcp.server.mcpserver import MCPServer
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

from mcp_server import services
from mcp_server.db import run_orm
from mcp_server.events import event_store_for

logger = logging.getLogger(__name__)

RETRY_MS = 1000  # how soon a client that lost an SSE stream reconnects to resume it

# The SDK's ``json_response`` choice, made per request by the endpoint: a request whose answer
# is all the server sends for it gets one JSON body (half the server's work of an SSE stream);
# every other request keeps its SSE stream for progress and log notifications.
REPLY_AS_JSON: contextvars.ContextVar[bool] = contextvars.ContextVar("mcp_reply_as_json", default=False)
ANSWERED_ALONE = frozenset({"tools/list", "ping"})


class _ReplyAsJSON:
    """Stands in for the SDK's ``json_response`` bool, which the pinned ``mcp`` version reads
    by truth value while it handles a request: true inside a request marked with
    ``REPLY_AS_JSON``. A session's own tasks copy the context of the request that opened
    it, where it is false, so they still route other requests' notifications to their streams.
    """

    def __bool__(self) -> bool:
        return REPLY_AS_JSON.get()


def quiet_tools(server: MCPServer) -> frozenset[str]:
    """The tools that take no Context: their result is all they can send (private API of the
    pinned ``mcp`` version: the tool manager)."""
    return frozenset(tool.name for tool in server._tool_manager.list_tools() if tool.context_kwarg is None)


class RecordingSessionManager(StreamableHTTPSessionManager):
    """The SDK's manager, telling our session records when a live session goes away.

    ``_discard_session`` is the one place where the SDK forgets a session (client DELETE,
    idle timeout, crash); it is private API of the pinned ``mcp`` version.
    """

    def __init__(self, app: Any, *, quiet_tools: frozenset[str], **options: Any) -> None:
        super().__init__(app=app, json_response=_ReplyAsJSON(), **options)
        self.quiet_tools = quiet_tools

    def answered_alone(self, message: Any) -> bool:
        """True for a request (the parsed body) whose reply is all the server sends for it:
        ``tools/list``, ``ping``, or a call of a tool that takes no Context (it cannot report
        progress or log)."""
        if not isinstance(message, dict) or "id" not in message:
            return False
        if message.get("method") in ANSWERED_ALONE:
            return True
        params = message.get("params")
        if message.get("method") != "tools/call" or not isinstance(params, dict):
            return False
        name = params.get("name")
        return isinstance(name, str) and name in self.quiet_tools

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        was_live = session_id in self._server_instances
        await super()._discard_session(session_id, transport)
        if was_live:
            await run_orm(services.mcp_session_end, session_id=session_id, reason=services.END_SERVER)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        """The SDK's admission, with a resumable event store of the session's own."""
        transport = super()._admit_session(requestor)
        if transport is not None:
            transport._event_store = event_store_for(transport.mcp_session_id)
        return transport

    def is_live(self, session_id: str) -> bool:
        return session_id in self._server_instances

    async def restore_session(
        self,
        session_id: str,
        owner: AuthorizationContext | None,
        *,
        protocol_version: str,
        client_info: dict,
        client_capabilities: dict,
    ) -> None:
        """Serve a session another process opened, from its record: born initialized.

        The counterpart of the SDK's ``_admit_session`` + ``_serve_opening_request``
        (pinned ``mcp`` version) minus the handshake, which happened elsewhere.
        """
        async with self._session_creation_lock:
            if session_id in self._server_instances:
                return
            transport = StreamableHTTPServerTransport(
                mcp_session_id=session_id,
                is_json_response_enabled=self.json_response,
                event_store=event_store_for(session_id),
                security_settings=self.security_settings,
                retry_interval=self.retry_interval,
                idle_timeout=self.session_idle_timeout,
            )
            if owner is not None:
                self._session_owners[session_id] = owner
            self._server_instances[session_id] = transport

        async def run_server(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            async with transport.connect() as (read_stream, write_stream):
                task_status.started()
                try:
                    dispatcher = JSONRPCDispatcher(read_stream, write_stream, inline_methods=frozenset({"initialize"}))
                    connection = Connection.from_envelope(
                        protocol_version, client_info, client_capabilities, outbound=dispatcher
                    )
                    connection.session_id = session_id
                    with transport.idle_scope or anyio.CancelScope():
                        await serve_connection(
                            self.app, dispatcher, connection=connection, lifespan_state=self._lifespan_state
                        )
                except Exception:
                    logger.exception("Restored session %s crashed", session_id)
                finally:
                    await self._discard_session(session_id, transport)

        await self._task_group.start(run_server)
        logger.info("Restored session %s from its record", session_id)

    async def end_session(self, session_id: str) -> None:
        """Drop a live session now (an operator ended it); its id then answers 404."""
        transport = self._server_instances.get(session_id)
        if transport is not None:
            await self._discard_session(session_id, transport)


class ManagedServer:
    """One MCPServer and its session manager, started once per process, health visible."""

    def __init__(self, name: str, build: Callable[[], MCPServer]) -> None:
        self.name = name
        self._build = build
        self.manager: RecordingSessionManager | None = None
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    @property
    def failed(self) -> bool:
        """True once the manager stopped unexpectedly: MCP is down in this process."""
        return self.error is not None or (self._task is not None and self._task.done() and not self._stop.is_set())

    async def ensure_running(self) -> RecordingSessionManager:
        """Start the manager on first use (idempotent); raise if it could not run."""
        if self._task is None:
            self._ready, self._stop = asyncio.Event(), asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())
        if not self._ready.is_set():
            waiter = asyncio.ensure_future(self._ready.wait())
            await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if self.failed or self.manager is None:
            raise RuntimeError(f"the MCP session manager is not running: {self.error!r}")
        return self.manager

    async def stop(self) -> None:
        """Stop the manager (its sessions end); a later request starts a fresh one."""
        if self._task is None:
            return
        self._stop.set()
        await self._task
        self._task = self.manager = None

    async def _run(self) -> None:
        try:
            server = self._build()
            self.manager = RecordingSessionManager(
                server._lowlevel_server,  # the manager takes the low-level Server, as MCPServer's own wiring does
                quiet_tools=quiet_tools(server),
                session_idle_timeout=settings.CODER_MCP_SESSION_IDLE_TIMEOUT,
                retry_interval=RETRY_MS,
            )
            # Records left open by a process that died can never be resumed.
            idle_for = timedelta(seconds=settings.CODER_MCP_SESSION_IDLE_TIMEOUT * 2)
            await run_orm(services.mcp_sessions_end_stale, idle_for=idle_for)
            async with self.manager.run():
                logger.info("MCP session manager %r running", self.name)
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise  # the event loop is shutting down
        except BaseException as exc:
            self.error = exc
            logger.exception("MCP session manager %r stopped unexpectedly; MCP is down in this process", self.name)
            raise
        finally:
            self._ready.set()
