"""RFC 8414 and RFC 9728 documents, and the experiment gate on every OAuth route."""

import pytest
from django.conf import settings

from oauth.oauth2.policy import MCP_PATH

OAUTH_ROUTES = [
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/.well-known/oauth-protected-resource"),
    ("get", "/.well-known/oauth-protected-resource" + MCP_PATH),
    ("get", "/oauth2/authorize"),
    ("post", "/oauth2/tokens"),
    ("post", "/oauth2/revoke"),
    ("post", "/oauth2/register"),
    ("get", "/oauth2/clients/abc"),
]


@pytest.mark.parametrize(("method", "path"), OAUTH_ROUTES)
def test_every_oauth_route_needs_the_oauth2_experiment(client, db, enable_experiments, method, path):
    enable_experiments("mcp-server-http")
    response = getattr(client, method)(path)
    assert response.status_code == 403
    assert response.json() == {"message": "This functionality requires enabling the following experiments: oauth2"}


def test_authorization_server_metadata_lists_only_what_we_accept(client, db, oauth2_on):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    issuer = settings.CODER_ACCESS_URL
    assert response.json() == {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/tokens",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "registration_endpoint": f"{issuer}/oauth2/register",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["mcp"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }
    assert "introspection_endpoint" not in response.json()


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource" + MCP_PATH]
)
def test_protected_resource_metadata_names_the_exact_mcp_url(client, db, oauth2_on, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": settings.CODER_ACCESS_URL + MCP_PATH,
        "authorization_servers": [settings.CODER_ACCESS_URL],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Coder MCP server",
    }


def test_protected_resource_metadata_only_for_our_resource(client, db, oauth2_on):
    assert client.get("/.well-known/oauth-protected-resource/api/v2/users").status_code == 404


def test_introspection_is_not_served(client, db, oauth2_on):
    assert client.post("/oauth2/introspect", {"token": "x"}).status_code == 404
