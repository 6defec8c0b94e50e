"""OAuth access tokens on the one authentication path: audience, scope, user, lifetime."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from oauth.authentication import AuthError, authenticate_raw_token, unauthorized_response
from oauth.oauth2.policy import MCP_PATH
from tests.oauth.oauth2_helpers import exchange, get_code, make_application, pkce_pair, register

ME = "/api/v2/users/me"
MCP_URL = settings.CODER_ACCESS_URL + MCP_PATH
METADATA = f"{settings.CODER_ACCESS_URL}/.well-known/oauth-protected-resource{MCP_PATH}"


def issue(client: Client, **authorize_extra) -> dict:
    application, _ = make_application()
    verifier, challenge = pkce_pair()
    code = get_code(client, application.client_id, challenge, **authorize_extra)
    response = exchange(client, code, verifier, application.client_id)
    assert response.status_code == 200, response.content
    return response.json() | {"client_id": application.client_id}


@pytest.fixture
def mcp_token(member_client, oauth2_on) -> dict:
    return issue(member_client)


def refusal(raw: str, resource: str | None = MCP_URL) -> AuthError:
    with pytest.raises(AuthError) as excinfo:
        authenticate_raw_token(raw, resource=resource)
    return excinfo.value


def test_mcp_token_authenticates_its_user_for_the_mcp_endpoint(mcp_token, member):
    credential = authenticate_raw_token(mcp_token["access_token"], resource=MCP_URL)
    assert credential.user == member
    assert credential.kind == "oauth"
    assert credential.scopes == {"mcp"}
    assert credential.resource == MCP_URL
    assert credential.key_id == str(get_access_token_model().objects.get(user=member).pk)
    member.refresh_from_db()
    assert member.last_seen_at is not None


def test_mcp_token_is_refused_on_the_rest_api(mcp_token):
    response = Client().get(ME, headers={"Authorization": f"Bearer {mcp_token['access_token']}"})
    assert response.status_code == 401
    assert response.json()["detail"] == f"OAuth2 access token is not valid for {settings.CODER_ACCESS_URL}{ME}."


def test_deployment_token_works_on_the_rest_api_and_mcp(member_client, member, oauth2_on):
    tokens = issue(member_client, resource=settings.CODER_ACCESS_URL)
    response = Client().get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    assert response.json()["username"] == member.username
    assert authenticate_raw_token(tokens["access_token"], resource=MCP_URL).user == member


def test_token_for_another_resource_is_refused(mcp_token, member):
    get_access_token_model().objects.filter(user=member).update(resource=["https://other.example/mcp"])
    error = refusal(mcp_token["access_token"])
    assert (error.status, error.error) == (401, "invalid_token")
    assert error.detail == f"OAuth2 access token is not valid for {MCP_URL}."


def test_token_without_audience_is_refused(mcp_token, member):
    get_access_token_model().objects.filter(user=member).update(resource=[])
    assert refusal(mcp_token["access_token"]).status == 401


def test_token_without_the_mcp_scope_is_insufficient_scope(mcp_token, member):
    get_access_token_model().objects.filter(user=member).update(scope="read")
    error = refusal(mcp_token["access_token"])
    assert (error.status, error.error) == (403, "insufficient_scope")
    _, _, headers = unauthorized_response(error)
    assert headers["WWW-Authenticate"] == (
        'Bearer realm="coder", error="insufficient_scope", error_description="The access token needs the mcp scope"'
        f', resource_metadata="{METADATA}", scope="mcp"'
    )


def test_suspended_users_token_is_refused(mcp_token, member):
    member.is_active = False
    member.save()
    error = refusal(mcp_token["access_token"])
    assert error.status == 401 and "suspended" in error.message


def test_expired_token_is_refused(mcp_token, member):
    get_access_token_model().objects.filter(user=member).update(expires=timezone.now() - timedelta(seconds=1))
    error = refusal(mcp_token["access_token"])
    assert error.status == 401 and error.description == "The access token has expired"


def test_registration_token_is_useless_as_a_bearer(client, db, oauth2_on):
    _, registered = register(client)
    raw = registered["registration_access_token"]
    assert refusal(raw).detail == "OAuth2 access token is invalid."
    response = Client().get(ME, headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401


def test_revoked_token_is_refused(member_client, mcp_token):
    response = member_client.post(
        "/oauth2/revoke", {"token": mcp_token["access_token"], "client_id": mcp_token["client_id"]}
    )
    assert response.status_code == 200
    assert refusal(mcp_token["access_token"]).detail == "OAuth2 access token is invalid."


def test_oauth_tokens_need_the_experiment(mcp_token, enable_experiments):
    enable_experiments("mcp-server-http")
    assert refusal(mcp_token["access_token"]).detail.startswith("Invalid API key format")


def test_challenge_points_at_the_metadata_only_with_oauth2_on(db, enable_experiments):
    enable_experiments("oauth2")
    response = Client().get(ME, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="coder", error="invalid_token", error_description="The access token is invalid"'
        f', resource_metadata="{METADATA}", scope="mcp"'
    )
    enable_experiments()
    challenge = Client().get(ME, headers={"Authorization": "Bearer nope"}).headers["WWW-Authenticate"]
    assert "resource_metadata" not in challenge
