"""The authorization code flow through Django's own request handling, with the exact
errors each mistake gets."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from tests.oauth.oauth2_helpers import (
    authorize_params,
    consent,
    exchange,
    get_code,
    make_application,
    pkce_pair,
    redirect_query,
    refresh,
    register,
)

pytestmark = pytest.mark.usefixtures("oauth2_on")

MCP_URL = settings.CODER_ACCESS_URL + "/api/experimental/mcp/http"


@pytest.fixture
def public_app(db):
    return make_application()[0]


def test_code_flow_issues_audience_bound_hashed_tokens(member_client, member, public_app):
    verifier, challenge = pkce_pair()
    response = consent(member_client, authorize_params(public_app.client_id, challenge))
    query = redirect_query(response)
    assert response["Location"].startswith("http://127.0.0.1:43123/callback?")
    assert query["state"] == "xyz"
    assert query["iss"] == settings.CODER_ACCESS_URL

    token_response = exchange(member_client, query["code"], verifier, public_app.client_id)
    assert token_response.status_code == 200, token_response.content
    assert token_response["Cache-Control"] == "no-store"
    body = token_response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "mcp"
    assert body["expires_in"] == 3600
    token = get_access_token_model().objects.get(user=member)
    assert token.resource == [MCP_URL]
    assert token.token == ""  # only the checksum is stored
    assert get_refresh_token_model().objects.get(user=member).token == ""


def test_missing_pkce_is_refused_before_consent(member_client, public_app):
    response = member_client.get("/oauth2/authorize?" + urlencode(authorize_params(public_app.client_id, None)))
    assert redirect_query(response) == {
        "error": "invalid_request",
        "error_description": "Code challenge required.",
        "state": "xyz",
    }


@pytest.mark.parametrize("method", ["plain", None])
def test_plain_or_missing_method_is_refused_before_consent(member_client, public_app, method):
    params = authorize_params(public_app.client_id, "x" * 43, code_challenge_method=method)
    response = member_client.get("/oauth2/authorize?" + urlencode(params))
    assert redirect_query(response) == {
        "error": "invalid_request",
        "error_description": "Transform algorithm not supported.",
        "state": "xyz",
    }


def test_wrong_verifier_is_invalid_grant(member_client, public_app):
    _, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    response = exchange(member_client, code, pkce_pair()[0], public_app.client_id)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}
    assert response["Cache-Control"] == "no-store"


def test_missing_verifier_is_refused(member_client, public_app):
    _, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    response = exchange(member_client, code, None, public_app.client_id)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "Code verifier required."}


def test_reused_code_is_invalid_grant_and_revokes_what_it_bought(member_client, member, public_app):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    first = exchange(member_client, code, verifier, public_app.client_id).json()
    rotated = refresh(member_client, first["refresh_token"], public_app.client_id).json()
    again = exchange(member_client, code, verifier, public_app.client_id)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}
    assert not get_access_token_model().objects.filter(user=member).exists()
    assert refresh(member_client, rotated["refresh_token"], public_app.client_id).json() == {"error": "invalid_grant"}


def test_expired_code_is_invalid_grant(member_client, public_app):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    get_grant_model().objects.filter(code=code).update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(member_client, code, verifier, public_app.client_id)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_unregistered_redirect_uri_is_shown_not_followed(member_client, public_app):
    _, challenge = pkce_pair()
    params = authorize_params(public_app.client_id, challenge, redirect_uri="http://127.0.0.1:43123/other")
    response = member_client.get("/oauth2/authorize?" + urlencode(params))
    assert response.status_code == 400
    assert response.context["error"].error == "invalid_request"
    assert b"Mismatching redirect URI" in response.content


def test_http_redirect_to_a_remote_host_is_refused_even_when_an_operator_registered_it(member_client, db):
    application, _ = make_application(redirect_uri="http://example.com/callback")
    _, challenge = pkce_pair()
    params = authorize_params(application.client_id, challenge, redirect_uri="http://example.com/callback")
    response = member_client.get("/oauth2/authorize?" + urlencode(params))
    assert response.status_code == 400
    assert b"Mismatching redirect URI" in response.content


def test_loopback_redirect_accepts_any_port(member_client, public_app):
    _, challenge = pkce_pair()
    params = authorize_params(public_app.client_id, challenge, redirect_uri="http://127.0.0.1:5999/callback")
    assert member_client.get("/oauth2/authorize?" + urlencode(params)).status_code == 200


def test_unknown_resource_is_invalid_target_before_consent(member_client, public_app):
    _, challenge = pkce_pair()
    params = authorize_params(public_app.client_id, challenge, resource="https://elsewhere.example/mcp")
    query = redirect_query(member_client.get("/oauth2/authorize?" + urlencode(params)))
    assert query["error"] == "invalid_target"
    assert query["state"] == "xyz"


def test_tampered_resource_on_the_consent_form_is_refused(member_client, public_app):
    _, challenge = pkce_pair()
    params = authorize_params(public_app.client_id, challenge)
    page = member_client.get("/oauth2/authorize?" + urlencode(params))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data.update(allow="1", resource="https://elsewhere.example/mcp")
    query = redirect_query(member_client.post("/oauth2/authorize", data))
    assert query["error"] == "invalid_target"
    assert not get_grant_model().objects.exists()


def test_the_deployment_itself_is_an_allowed_resource(member_client, member, public_app):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge, resource=settings.CODER_ACCESS_URL)
    assert exchange(member_client, code, verifier, public_app.client_id).status_code == 200
    assert get_access_token_model().objects.get(user=member).resource == [settings.CODER_ACCESS_URL]


def test_deny_redirects_with_access_denied(member_client, public_app):
    _, challenge = pkce_pair()
    response = consent(member_client, authorize_params(public_app.client_id, challenge), allow=False)
    assert redirect_query(response) == {"error": "access_denied", "state": "xyz"}


def test_unknown_scope_is_invalid_scope(member_client, public_app):
    _, challenge = pkce_pair()
    params = authorize_params(public_app.client_id, challenge, scope="admin")
    assert redirect_query(member_client.get("/oauth2/authorize?" + urlencode(params)))["error"] == "invalid_scope"


def test_a_dynamic_client_cannot_skip_consent(member_client, member, client):
    status, registered = register(client)
    assert status == 201
    verifier, challenge = pkce_pair()
    code = get_code(member_client, registered["client_id"], challenge)
    assert exchange(member_client, code, verifier, registered["client_id"]).status_code == 200
    # Having consented once, approval_prompt=auto still shows the page.
    params = authorize_params(registered["client_id"], challenge, approval_prompt="auto")
    page = member_client.get("/oauth2/authorize?" + urlencode(params))
    assert page.status_code == 200
    assert b"registered itself; it is not verified by your administrator" in page.content
    assert b"a program on this computer (port 43123)" in page.content


def test_refresh_rotates_and_a_replay_revokes_the_family(member_client, public_app, member):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    first = exchange(member_client, code, verifier, public_app.client_id).json()

    second = refresh(member_client, first["refresh_token"], public_app.client_id)
    assert second.status_code == 200
    assert second["Cache-Control"] == "no-store"
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert get_access_token_model().objects.get(user=member).resource == [MCP_URL]

    replay = refresh(member_client, first["refresh_token"], public_app.client_id)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant"}
    assert not get_access_token_model().objects.filter(user=member).exists()
    assert refresh(member_client, second["refresh_token"], public_app.client_id).json() == {"error": "invalid_grant"}


def test_a_suspended_users_refresh_token_stops_working(member_client, public_app, member):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    tokens = exchange(member_client, code, verifier, public_app.client_id).json()
    member.is_active = False
    member.save()
    assert refresh(member_client, tokens["refresh_token"], public_app.client_id).json() == {"error": "invalid_grant"}


def test_revocation_answers_200_and_kills_the_pair(member_client, public_app, member):
    verifier, challenge = pkce_pair()
    code = get_code(member_client, public_app.client_id, challenge)
    tokens = exchange(member_client, code, verifier, public_app.client_id).json()
    response = member_client.post(
        "/oauth2/revoke", {"token": tokens["access_token"], "client_id": public_app.client_id}
    )
    assert response.status_code == 200
    assert not get_access_token_model().objects.filter(user=member).exists()
    assert refresh(member_client, tokens["refresh_token"], public_app.client_id).json() == {"error": "invalid_grant"}
    unknown = member_client.post("/oauth2/revoke", {"token": "nonsense", "client_id": public_app.client_id})
    assert unknown.status_code == 200


def test_confidential_client_must_authenticate(member_client, db):
    application, secret = make_application(confidential=True)
    verifier, challenge = pkce_pair()
    code = get_code(member_client, application.client_id, challenge)
    wrong = exchange(member_client, code, verifier, application.client_id, secret="wrong")
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client"}
    right = exchange(member_client, code, verifier, application.client_id, secret=secret)
    assert right.status_code == 200


def test_unsupported_grant_types_are_refused(client, public_app):
    for grant_type in ("password", "client_credentials", "implicit"):
        response = client.post("/oauth2/tokens", {"grant_type": grant_type, "client_id": public_app.client_id})
        assert response.status_code == 400
        assert response.json() == {"error": "unsupported_grant_type"}


def test_anonymous_user_is_sent_to_login(client, public_app):
    _, challenge = pkce_pair()
    response = client.get("/oauth2/authorize?" + urlencode(authorize_params(public_app.client_id, challenge)))
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/oauth2/authorize")
