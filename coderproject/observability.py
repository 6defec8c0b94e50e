"""Request ids, the access log and Prometheus metrics for every HTTP request.

One ASGI middleware in front of everything (Django and the MCP app alike) gives each
request an id (``X-Request-Id``, kept from a trusted proxy or made here), logs one access
line with the path but never the query string (tokens can travel there), and counts the
request. Metrics of several worker processes are merged through prometheus_client's
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (``server --workers`` sets it).
"""

import contextvars
import logging
import os
import re
import time
import uuid

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

access_logger = logging.getLogger("coder.access")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

HTTP_REQUESTS = Counter("coder_http_requests_total", "HTTP requests answered.", ["method", "status", "route"])
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
HTTP_LATENCY = Histogram(
    "coder_http_request_duration_seconds", "Time to the end of the response.", ["route"], buckets=_LATENCY_BUCKETS
)
TOOL_CALLS = Counter("coder_mcp_tool_calls_total", "MCP tool calls.", ["tool", "outcome"])
TOOL_LATENCY = Histogram(
    "coder_mcp_tool_call_duration_seconds", "MCP tool call duration.", ["tool"], buckets=_LATENCY_BUCKETS
)
BUILD_DURATION = Histogram(
    "coder_workspace_build_duration_seconds",
    "Workspace build job duration.",
    ["transition", "status"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


def route_of(path: str) -> str:
    """A low-cardinality name for a path (never the path itself)."""
    if path.startswith("/api/experimental/mcp/"):
        return "mcp"
    for prefix, name in (("/api/v2/", "api"), ("/oauth2/", "oauth2"), ("/.well-known/", "well-known")):
        if path.startswith(prefix):
            return name
    if path.startswith("/admin/"):
        return "admin"
    return "pages"


class RequestObservation:
    """ASGI middleware: request id, access log line, request metrics."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope["path"])
            HTTP_REQUESTS.labels(scope["method"], str(status), route).inc()
            HTTP_LATENCY.labels(route).observe(elapsed)
            access_logger.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": elapsed * 1000,
                },
            )
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id and worker pid on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.pid = os.getpid()
        return True


class DeploymentStateCollector:
    """Gauges read from the database at scrape time, so every worker reports the same truth."""

    def collect(self):
        from mcp_server.models import MCPSession
        from workspaces.models import ProvisionerJob

        sessions = GaugeMetricFamily("coder_mcp_sessions_active", "MCP sessions not ended.")
        sessions.add_metric([], MCPSession.objects.filter(ended_at__isnull=True).count())
        yield sessions
        queue = GaugeMetricFamily("coder_provisioner_jobs_pending", "Provisioner jobs waiting for a worker.")
        queue.add_metric([], ProvisionerJob.objects.filter(status=ProvisionerJob.Status.PENDING).count())
        yield queue


def render_metrics() -> tuple[bytes, str]:
    """The exposition text: this process's (or every worker's) metrics plus the deployment state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    state = CollectorRegistry()
    state.register(DeploymentStateCollector())
    return generate_latest(registry) + generate_latest(state), CONTENT_TYPE_LATEST
