"""The one rate-limit helper and every surface that uses it: tokens (REST and page),
the OAuth token endpoint, MCP tool calls. Sign-in and registration: tests/oauth."""

import time

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from audit.models import AuditEvent
from coderproject.env import Rate, parse_rate
from coderproject.ratelimit import rate_limit_clear, rate_limit_exceeded, rate_limit_hit, rate_limit_hits
from tests.mcp_server.conftest import mcp_client


def test_rates_parse_and_refuse_nonsense():
    assert parse_rate("30/1h") == Rate(30, 3600)
    assert parse_rate("600/1m") == Rate(600, 60)
    assert parse_rate("0") == Rate(0, 1)
    for bad in ("", "x/1h", "30", "30/soon", "-1/1m"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_hits_count_per_identity_and_tell_how_long_to_wait():
    rate = Rate(limit=2, window=120)
    assert rate_limit_hit(scope="t", identity="a", rate=rate) is None
    assert rate_limit_hit(scope="t", identity="a", rate=rate) is None
    wait = rate_limit_hit(scope="t", identity="a", rate=rate)
    assert wait is not None and 118 <= wait <= 120
    assert rate_limit_exceeded(scope="t", identity="a", rate=rate) == wait
    assert rate_limit_exceeded(scope="t", identity="b", rate=rate) is None
    assert rate_limit_hits(scope="t", limits={"b": rate, "a": rate}) == wait, "the longest wait wins"
    rate_limit_clear(scope="t", identity="a")
    assert rate_limit_exceeded(scope="t", identity="a", rate=rate) is None
    assert all(rate_limit_hit(scope="t", identity="c", rate=Rate(0, 1)) is None for _ in range(50)), "0 is off"


def test_rest_token_creation_is_limited_per_user_then_per_ip(member, stranger, settings):
    settings.CODER_RATELIMIT_TOKENS = Rate(2, 3600)
    settings.CODER_RATELIMIT_TOKENS_PER_IP = Rate(3, 3600)
    member_client, stranger_client = Client(), Client()
    member_client.force_login(member)
    stranger_client.force_login(stranger)
    url = "/api/v2/users/me/keys/tokens"
    assert [member_client.post(url, {}, content_type="application/json").status_code for _ in range(2)] == [201, 201]
    refused = member_client.post(url, {}, content_type="application/json")
    assert refused.status_code == 429 and 3590 <= int(refused.headers["Retry-After"]) <= 3600
    assert set(refused.json()) >= {"message"} and "Traceback" not in refused.content.decode()
    # Another user from the same address: within their own count, then over the address's.
    assert stranger_client.post(url, {}, content_type="application/json").status_code == 429
    other_ip = stranger_client.post(url, {}, content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert other_ip.status_code == 201


def test_page_token_creation_is_limited(member, settings):
    settings.CODER_RATELIMIT_TOKENS = Rate(1, 600)
    client = Client()
    client.force_login(member)
    assert client.post("/settings/tokens", {"token_name": "one", "lifetime": "30d"}).status_code == 200
    refused = client.post("/settings/tokens", {"token_name": "two", "lifetime": "30d"})
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "Too many tokens created" in refused.content.decode()
    assert list(member.api_keys.values_list("name", flat=True)) == ["one"]


def test_oauth_token_endpoint_is_limited_per_ip(db, settings, enable_experiments):
    enable_experiments("oauth2")
    settings.CODER_RATELIMIT_OAUTH2_TOKEN_PER_IP = Rate(3, 60)
    client = Client()
    statuses = [client.post("/oauth2/tokens", {"grant_type": "authorization_code"}).status_code for _ in range(4)]
    assert statuses[:3] != [429] * 3 and statuses[3] == 429
    refused = client.post("/oauth2/tokens", {"grant_type": "authorization_code"})
    assert refused.json()["error"] == "too_many_requests" and int(refused.headers["Retry-After"]) <= 60
    assert Client(REMOTE_ADDR="10.0.0.8").post("/oauth2/tokens", {}).status_code != 429


@pytest.fixture
def two_tool_calls_a_minute(settings):
    settings.CODER_RATELIMIT_TOOL_CALLS = Rate(2, 60)


def test_tool_calls_are_limited_per_user_with_a_tool_error(member, two_tool_calls_a_minute, mcp_url, member_headers):
    async def scenario():
        async with mcp_client(mcp_url, headers=member_headers) as client:
            return [await client.call_tool("coder_get_authenticated_user", {}) for _ in range(3)]

    results = async_to_sync(scenario)()
    assert [r.is_error for r in results] == [False, False, True]
    assert "Rate limit" in results[2].content[0].text and "seconds" in results[2].content[0].text
    deadline = time.monotonic() + 10
    while not AuditEvent.objects.filter(detail__rate_limited=True).exists():
        assert time.monotonic() < deadline, "the refused call was not audited"
        time.sleep(0.05)
    assert AuditEvent.objects.get(detail__rate_limited=True).outcome == "failure"
