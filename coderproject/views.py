"""Deployment-level endpoints: health, build info, experiments."""

import os

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from coderproject import __version__, experiments


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers and its MCP session managers are alive (and which worker it is)."""
    from mcp_server.asgi import failed_servers

    failed = failed_servers()
    if failed:
        return JsonResponse({"status": "failing", "mcp_session_managers_down": failed, "pid": os.getpid()}, status=503)
    return JsonResponse({"status": "ok", "pid": os.getpid()})


@api_view(["GET"])
@permission_classes([AllowAny])
def buildinfo(request: Request) -> Response:
    return Response(
        {
            "version": __version__,
            "dashboard_url": settings.CODER_ACCESS_URL,
            "external_url": settings.CODER_ACCESS_URL,
            "agent_api_version": "2.0",
        }
    )


@api_view(["GET"])
def experiment_list(request: Request) -> Response:
    """The enabled experiments, as Coder's ``GET /api/v2/experiments`` lists them."""
    return Response(sorted(experiments.enabled()))
