"""Client ID Metadata Documents: an https URL as client_id, fetched safely and held to our rules."""

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from oauth2_provider.models import get_access_token_model, get_application_model

from tests.oauth.cimd_documents import document_server, use_loopback_documents
from tests.oauth.oauth2_helpers import REDIRECT_URI, authorize_params, exchange, get_code, pkce_pair

pytestmark = pytest.mark.usefixtures("oauth2_on")

CLIENT_ID = "https://client.example/oauth/client.json"


@pytest.fixture(autouse=True)
def _no_backoff():
    cache.clear()


def document(**overrides) -> dict:
    body = {
        "client_id": CLIENT_ID,
        "client_name": "Example MCP client",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    }
    body.update(overrides)
    return body


def test_a_cimd_client_connects_without_registering(member_client, member, settings):
    with document_server({"/oauth/client.json": document()}) as origin:
        use_loopback_documents(settings, origin)
        verifier, challenge = pkce_pair()
        page = member_client.get("/oauth2/authorize?" + urlencode(authorize_params(CLIENT_ID, challenge)))
        assert page.status_code == 200
        assert b"Example MCP client" in page.content
        assert b"registered itself; it is not verified by your administrator" in page.content
        code = get_code(member_client, CLIENT_ID, challenge)
        response = exchange(member_client, code, verifier, CLIENT_ID)
    assert response.status_code == 200, response.content
    application = get_application_model().objects.get(client_id=CLIENT_ID)
    assert application.registration_source == "cimd"
    assert get_access_token_model().objects.get(user=member).application == application


@pytest.mark.parametrize(
    "bad",
    [
        {"redirect_uris": ["http://evil.example/cb"]},
        {"redirect_uris": ["javascript:alert(1)"]},
        {"grant_types": ["client_credentials"]},
        {"client_id": "https://other.example/client.json"},
        {"token_endpoint_auth_method": "client_secret_basic"},
    ],
)
def test_a_document_breaking_our_rules_is_an_unknown_client(member_client, settings, bad):
    with document_server({"/oauth/client.json": document(**bad)}) as origin:
        use_loopback_documents(settings, origin)
        _, challenge = pkce_pair()
        response = member_client.get("/oauth2/authorize?" + urlencode(authorize_params(CLIENT_ID, challenge)))
    assert response.status_code == 400
    assert b"Invalid client_id parameter value" in response.content
    assert not get_application_model().objects.exists()


@pytest.mark.parametrize(
    "client_id",
    ["https://127.0.0.1/client.json", "https://localhost/client.json", "https://169.254.169.254/latest/meta-data"],
)
def test_the_production_fetcher_refuses_internal_addresses(member_client, client_id):
    _, challenge = pkce_pair()
    response = member_client.get("/oauth2/authorize?" + urlencode(authorize_params(client_id, challenge)))
    assert response.status_code == 400
    assert b"Invalid client_id parameter value" in response.content
    assert not get_application_model().objects.exists()
