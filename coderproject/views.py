"""Deployment-level endpoints: health, readiness, metrics, build info, experiments."""

import ipaddress
import os

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from coderproject import __version__, experiments
from coderproject.api import json_error
from coderproject.observability import render_metrics


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers and its MCP session managers are alive (and which worker it is)."""
    from mcp_server.asgi import failed_servers

    failed = failed_servers()
    if failed:
        return JsonResponse({"status": "failing", "mcp_session_managers_down": failed, "pid": os.getpid()}, status=503)
    return JsonResponse({"status": "ok", "pid": os.getpid()})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("readyz", os.getpid(), 10)
    if cache.get("readyz") is None:
        raise RuntimeError("a value written to the cache could not be read back")
    return "ok" if settings.REDIS_URL else "ok (in memory)"


def _check_mcp() -> str:
    from mcp_server.asgi import failed_servers

    failed = failed_servers()
    if failed:
        raise RuntimeError(f"session manager(s) down: {', '.join(failed)}")
    return "ok"


def _check_provisioner() -> str:
    from workspaces.provisioner import embedded_provisioners

    if settings.CODER_PROVISIONER_DAEMONS == 0:
        return "ok (external provisioners)"
    workers = embedded_provisioners()
    alive = sum(worker.is_alive() for worker in workers)
    if workers and alive < len(workers):
        raise RuntimeError(f"{len(workers) - alive} of {len(workers)} embedded provisioner workers died")
    return f"ok ({alive} embedded)" if workers else "ok (not started in this process)"


READINESS_CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "mcp": _check_mcp,
    "provisioner": _check_provisioner,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every dependency this worker needs answers (503 and the failing ones if not)."""
    checks, ready = {}, True
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready", with its reason
            checks[name] = f"failing: {exc}"
            ready = False
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.CODER_METRICS_TOKEN
    if token:
        return constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}")
    return ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "0.0.0.0").is_loopback  # noqa: S104


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics: from loopback, or with ``Authorization: Bearer $CODER_METRICS_TOKEN``."""
    if not _may_scrape(request):
        return json_error(403, "Metrics are served to loopback or to a scraper with CODER_METRICS_TOKEN.")
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


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
