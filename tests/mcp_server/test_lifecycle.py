"""The session manager's start-up under an ASGI lifespan (uvicorn) and its health when it dies."""

import asyncio

import pytest
from mcp.server.mcpserver import MCPServer

from mcp_server import asgi
from mcp_server.lifecycle import ManagedServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_lifespan_starts_and_stops_the_session_manager():
    async def scenario():
        inbox: asyncio.Queue = asyncio.Queue()
        outbox: list[dict] = []

        async def send(message):
            outbox.append(message)

        await inbox.put({"type": "lifespan.startup"})
        await inbox.put({"type": "lifespan.shutdown"})
        await asgi.lifespan({"type": "lifespan"}, inbox.get, send)
        return [m["type"] for m in outbox]

    assert asyncio.run(scenario()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not asgi.standard.failed


def test_a_dead_session_manager_is_reported_not_hidden():
    def broken() -> MCPServer:
        raise OSError("no such thing")

    managed = ManagedServer("broken", broken)

    async def scenario():
        with pytest.raises(RuntimeError, match="not running"):
            await managed.ensure_running()

    asyncio.run(scenario())
    assert managed.failed
