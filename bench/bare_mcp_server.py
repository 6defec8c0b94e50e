"""The reference for bench/mcp_throughput.py: a bare MCPServer with one trivial tool, under Daphne.

No authentication, database or session records: the ceiling of this stack (SDK + Daphne).
The only glue is what Daphne needs (it sends no lifespan): the session manager starts on
the first request. Run: ``python bench/bare_mcp_server.py PORT``.
"""

import asyncio
import contextvars
import sys

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

server = MCPServer(name="bare")


@server.tool(name="coder_get_authenticated_user", description="A constant user, like ours without the lookup.")
async def coder_get_authenticated_user() -> dict:
    return {"id": "1", "username": "bench", "name": "Bench", "email": "bench@example.com", "status": "active"}


manager = StreamableHTTPSessionManager(app=server._lowlevel_server)
_started: asyncio.Event | None = None


async def _run(started: asyncio.Event) -> None:
    async with manager.run():
        started.set()
        await asyncio.Event().wait()


async def application(scope, receive, send):
    global _started
    if scope["type"] != "http":
        return
    if _started is None:
        _started = asyncio.Event()
        asyncio.get_running_loop().create_task(_run(_started), context=contextvars.Context())
    await _started.wait()
    await manager.handle_request(scope, receive, send)


if __name__ == "__main__":
    port = int(sys.argv[1])
    Server(
        application=application,
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=port),
        ready_callable=lambda: print("Listening", flush=True),
        verbosity=0,
    ).run()
