"""The ASGI entry point: Channels routes HTTP and WebSocket traffic.

Django's own handler must be built before anything imports models.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coderproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

import mcp_server.asgi  # noqa: E402
from coderproject.observability import RequestObservation  # noqa: E402
from workspaces.consumers import AgentRPCConsumer  # noqa: E402

# MCP: the SDK's Streamable HTTP app behind our checks (mcp_server/asgi.py). The conformance
# fixture answers 404 unless CODER_MCP_CONFORMANCE_FIXTURE is on in a DEBUG deployment.
mcp_routes = [
    re_path(r"^api/experimental/mcp/http$", mcp_server.asgi.application),
    re_path(r"^api/experimental/mcp/conformance$", mcp_server.asgi.conformance_application),
]

http_routes = [*mcp_routes, re_path(r"", django_asgi_app)]
# Workspace agents dial in here with their per-build token (workspaces/consumers.py).
agent_routes = [re_path(r"^api/v2/workspaceagents/me/rpc$", AgentRPCConsumer.as_asgi())]
websocket_routes: list = [*agent_routes]

application = ProtocolTypeRouter(
    {
        "http": RequestObservation(URLRouter(http_routes)),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_routes)),
        "lifespan": mcp_server.asgi.lifespan,
    }
)
