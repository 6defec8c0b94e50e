"""OAuth access tokens at the real MCP endpoint: which are let in, and the exact refusals."""

from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from oauth.oauth2.policy import MCP_PATH
from tests.mcp_server.test_transport import INITIALIZE
from tests.oauth.oauth2_helpers import exchange, get_code, make_application, pkce_pair, register

pytestmark = pytest.mark.slow


def initialize(server: str, token: str) -> httpx.Response:
    return httpx.post(
        server + MCP_PATH,
        json=INITIALIZE,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        timeout=30,
    )


def issue(user, **authorize_extra) -> str:
    client = Client()
    client.force_login(user)
    application, _ = make_application()
    verifier, challenge = pkce_pair()
    code = get_code(client, application.client_id, challenge, **authorize_extra)
    return exchange(client, code, verifier, application.client_id).json()["access_token"]


def challenge_for(server: str, error: str, description: str) -> str:
    return (
        f'Bearer realm="coder", error="{error}", error_description="{description}", '
        f'resource_metadata="{server}/.well-known/oauth-protected-resource{MCP_PATH}", scope="mcp"'
    )


def test_tokens_bound_to_the_mcp_url_or_the_deployment_are_accepted(oauth_server, member, settings):
    assert initialize(oauth_server, issue(member)).status_code == 200
    assert initialize(oauth_server, issue(member, resource=settings.CODER_ACCESS_URL)).status_code == 200


def test_refused_tokens_get_the_exact_challenge(oauth_server, member, stranger):
    tokens = get_access_token_model().objects
    invalid = challenge_for(oauth_server, "invalid_token", "The access token is invalid")

    other_resource = issue(member)
    tokens.filter(user=member).update(resource=["https://other.example/mcp"])
    response = initialize(oauth_server, other_resource)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge_for(
        oauth_server, "invalid_token", "The access token was issued for another resource"
    )
    assert response.json()["detail"] == f"OAuth2 access token is not valid for {oauth_server}{MCP_PATH}."

    _, registered = register(Client())
    response = initialize(oauth_server, registered["registration_access_token"])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == invalid

    no_scope = issue(stranger)
    tokens.filter(user=stranger).update(scope="")
    response = initialize(oauth_server, no_scope)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == challenge_for(
        oauth_server, "insufficient_scope", "The access token needs the mcp scope"
    )

    expired = issue(member)
    tokens.filter(user=member).update(expires=timezone.now() - timedelta(seconds=1))
    response = initialize(oauth_server, expired)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge_for(
        oauth_server, "invalid_token", "The access token has expired"
    )

    suspended = issue(member)
    member.is_active = False
    member.save()
    response = initialize(oauth_server, suspended)
    assert response.status_code == 401
    assert "suspended" in response.json()["message"]
