"""The auth bridge: our tokens in front of the SDK, Coder's 401 before the experiment's 403."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from oauth.models import APIKey
from tests.mcp_server.conftest import MCP_PATH, token_headers
from tests.mcp_server.test_transport import INITIALIZE, MCP_HEADERS

INVALID = 'Bearer realm="coder", error="invalid_token", error_description="The access token is invalid"'
EXPIRED = 'Bearer realm="coder", error="invalid_token", error_description="The access token has expired"'


def post(url: str, **headers: str) -> httpx.Response:
    return httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers})


def assert_401(response: httpx.Response, challenge: str = INVALID) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == challenge
    body = response.json()
    assert set(body) == {"message", "detail"} and body["message"] and body["detail"]


def test_no_token_is_401(mcp_url):
    assert_401(post(mcp_url))


@pytest.mark.parametrize(
    "token", ["not-a-token", "abcdefghij-0123456789012345678901", "abcdefghij-012345678901234567890x"]
)
def test_bad_token_is_401(mcp_url, token):
    assert_401(post(mcp_url, **{"Coder-Session-Token": token}))


def test_expired_token_is_401_with_the_expired_challenge(member, mcp_url):
    headers = token_headers(member)
    key_id = headers["Coder-Session-Token"].split("-")[0]
    APIKey.objects.filter(pk=key_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_401(post(mcp_url, **headers), EXPIRED)


def test_suspended_user_is_401(member, member_headers, mcp_url):
    member.is_active = False
    member.save()
    assert_401(post(mcp_url, **member_headers))


def test_bearer_header_works_too(member_headers, mcp_url):
    response = post(mcp_url, Authorization=f"Bearer {member_headers['Coder-Session-Token']}")
    assert response.status_code == 200


def test_authentication_runs_before_the_experiment_gate(member_headers, daphne_server):
    assert_401(post(daphne_server + MCP_PATH))
    assert post(daphne_server + MCP_PATH, **member_headers).status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda user, key: key.delete(), id="token deleted"),
        pytest.param(lambda user, key: setattr(user, "is_active", False) or user.save(), id="user suspended"),
    ],
)
def test_cached_acceptance_ends_when_a_credential_changes(settings, member, revoke):
    """The endpoint's short token cache never outlives a revocation in the same deployment."""
    from asgiref.sync import async_to_sync

    from mcp_server import auth
    from oauth.authentication import AuthError

    settings.CODER_MCP_AUTH_CACHE_SECONDS = 60
    raw = token_headers(member)["Coder-Session-Token"]
    scope = {"type": "http", "headers": [(b"coder-session-token", raw.encode())], "query_string": b""}
    assert async_to_sync(auth.authenticate)(scope).user == member
    assert async_to_sync(auth.authenticate)(scope).user == member  # served from the cache
    revoke(member, APIKey.objects.get(pk=raw.split("-")[0]))
    with pytest.raises(AuthError):
        async_to_sync(auth.authenticate)(scope)
