"""Health, readiness, metrics and the request id, through the real ASGI stack."""

import logging

import httpx
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_readyz_reports_each_dependency():
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "cache", "mcp", "provisioner"}
    assert body["checks"]["database"] == "ok"


def test_readyz_fails_when_the_database_is_gone(settings, monkeypatch):
    from coderproject import views

    def broken() -> str:
        raise RuntimeError("connection refused")

    monkeypatch.setitem(views.READINESS_CHECKS, "database", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failing: connection refused"


def test_metrics_are_for_loopback_or_a_scraper_token(settings):
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    local = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert local.status_code == 200
    assert b"coder_mcp_sessions_active" in local.content
    assert b"coder_provisioner_jobs_pending" in local.content
    settings.CODER_METRICS_TOKEN = "scrape-secret"
    remote = Client(REMOTE_ADDR="203.0.113.9")
    assert remote.get("/metrics").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_requests_get_an_id_and_are_counted(daphne_server):
    with httpx.Client(base_url=daphne_server) as client:
        first = client.get("/healthz?coder_session_token=abcdefghij-secretsecretsecretsecret12")
        kept = client.get("/healthz", headers={"X-Request-Id": "trace-123"})
        forged = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
        metrics = client.get("/metrics").text
    assert len(first.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "trace-123"
    assert forged.headers["x-request-id"] != "bad id with spaces"
    assert 'coder_http_requests_total{method="GET",route="pages",status="200"}' in metrics


def test_access_log_line_has_path_status_and_request_id_but_no_query(caplog):
    import asyncio

    from coderproject.observability import RequestObservation

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v2/users/me",
        "query_string": b"access_token=abcdefghij-secretsecretsecretsecret12",
        "headers": [(b"x-request-id", b"req-42")],
    }
    with caplog.at_level(logging.INFO, logger="coder.access"):
        asyncio.run(RequestObservation(app)(scope, None, send))
    (record,) = [r for r in caplog.records if r.name == "coder.access"]
    assert record.getMessage().startswith("GET /api/v2/users/me 204 ")
    assert "secret" not in record.getMessage()
    assert (b"x-request-id", b"req-42") in sent[0]["headers"]
