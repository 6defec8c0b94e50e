"""RFC 7591 registration open to anonymous clients, within limits, and RFC 7592 management."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from tests.oauth.oauth2_helpers import REDIRECT_URI, register

pytestmark = pytest.mark.usefixtures("oauth2_on")


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()


def test_public_client_registers_anonymously(client, db):
    status, body = register(client, client_name="VS Code")
    assert status == 201
    assert body["client_name"] == "VS Code"
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["scope"] == "mcp"
    assert "client_secret" not in body
    assert isinstance(body["client_id_issued_at"], int)
    assert body["registration_client_uri"].endswith(f"/oauth2/clients/{body['client_id']}")
    application = get_application_model().objects.get(client_id=body["client_id"])
    assert application.registration_source == "dcr"
    assert application.client_type == "public"
    assert application.user is None
    registration_token = get_access_token_model().objects.get(application=application)
    assert registration_token.token == ""
    assert registration_token.expires < timezone.now() + timedelta(days=31)


def test_confidential_client_gets_a_secret_that_never_expires(client, db):
    status, body = register(client, token_endpoint_auth_method="client_secret_post")
    assert status == 201
    assert body["client_secret"]
    assert body["client_secret_expires_at"] == 0
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    stored = get_application_model().objects.get(client_id=body["client_id"]).client_secret
    assert stored != body["client_secret"]  # hashed


@pytest.mark.parametrize(
    ("uris", "message"),
    [
        (["javascript:alert(1)"], "Redirect URI scheme javascript: is not allowed."),
        (["data:text/html,hi"], "Redirect URI scheme data: is not allowed."),
        (["file:///etc/passwd"], "Redirect URI scheme file: is not allowed."),
        (["http://example.com/cb"], "uses http to a host that is not loopback"),
        (["https://example.com/cb#frag"], "must not contain a fragment"),
        (["myapp://cb"], "Redirect URI scheme myapp: is not allowed"),
        (["https://user:pw@example.com/cb"], "must not carry credentials"),
        (["/relative"], "must be absolute"),
        ([], "redirect_uris must be a non-empty array."),
        (["https://example.com/" + "a" * 2100], "Redirect URIs are limited to 2048 characters."),
        ([f"http://127.0.0.1/{i}" for i in range(21)], "At most 20 redirect URIs may be registered."),
    ],
)
def test_bad_redirect_uris_are_invalid_client_metadata(client, db, uris, message):
    status, body = register(client, redirect_uris=uris)
    assert status == 400
    assert body["error"] == "invalid_client_metadata"
    assert message in body["error_description"]
    assert not get_application_model().objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "https://claude.ai/api/mcp/auth_callback",
        "https://vscode.dev/redirect",
        "http://127.0.0.1:33418/",
        "http://[::1]:8080/cb",
        "http://localhost:7777/callback",
        "vscode://vscode.github-authentication/did-authenticate",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
    ],
)
def test_redirect_uris_real_clients_use_are_accepted(client, db, uri):
    status, body = register(client, redirect_uris=[uri])
    assert status == 201, body
    assert body["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("grant_types", ["client_credentials"], "Unsupported grant_types: client_credentials"),
        ("grant_types", ["authorization_code", "password"], "Unsupported grant_types: password"),
        ("grant_types", ["refresh_token"], "grant_types must include authorization_code."),
        ("response_types", ["token"], 'response_types must be ["code"].'),
        ("token_endpoint_auth_method", "private_key_jwt", "Unsupported token_endpoint_auth_method"),
        ("scope", "admin", "Unsupported scope 'admin'"),
        ("client_name", 42, "client_name must be a string."),
    ],
)
def test_unsupported_metadata_is_refused(client, db, field, value, message):
    status, body = register(client, **{field: value})
    assert status == 400
    assert body["error"] == "invalid_client_metadata"
    assert message in body["error_description"]


def test_client_name_is_sanitised(client, db):
    status, body = register(client, client_name="  Evil\u202e\u200b Corp\n\tApp\x00  " + "x" * 200)
    assert status == 201
    name = body["client_name"]
    assert name.startswith("Evil Corp App ")
    assert len(name) == 100
    assert not any(ch in name for ch in "\u202e\u200b\n\t\x00")


def test_oversized_and_malformed_bodies_are_refused(client, db):
    big = json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": "x" * 20000})
    response = client.post("/oauth2/register", data=big, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client_metadata",
        "error_description": "The registration request is larger than 16384 bytes.",
    }
    for body in ("{nope", "[1, 2]"):
        response = client.post("/oauth2/register", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"


def test_registration_is_rate_limited_per_ip(client, db, settings):
    settings.CODER_OAUTH2_REGISTRATIONS_PER_HOUR = 3
    for _ in range(3):
        assert register(client)[0] == 201
    status, body = register(client)
    assert status == 429
    assert body["error"] == "too_many_requests"
    other_ip = client.post(
        "/oauth2/register",
        data=json.dumps({"redirect_uris": [REDIRECT_URI]}),
        content_type="application/json",
        REMOTE_ADDR="10.0.0.7",
    )
    assert other_ip.status_code == 201


def test_registration_management_read_update_delete(client, db):
    _, body = register(client)
    uri = body["registration_client_uri"].removeprefix("http://127.0.0.1:3000")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}"}

    read = client.get(uri, **auth)
    assert read.status_code == 200
    assert read["Cache-Control"] == "no-store"
    assert read.json()["client_id"] == body["client_id"]

    bad_update = client.put(uri, data=json.dumps({"redirect_uris": ["http://evil.example/cb"]}), **auth)
    assert bad_update.status_code == 400
    assert bad_update.json()["error"] == "invalid_client_metadata"

    update = client.put(
        uri,
        data=json.dumps({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}),
        **auth,
    )
    assert update.status_code == 200
    updated = update.json()
    assert updated["redirect_uris"] == ["https://app.example/cb"]
    assert updated["registration_access_token"] != body["registration_access_token"]  # rotated

    assert client.get(uri, **auth).status_code == 401  # the old token died with the rotation
    new_auth = {"HTTP_AUTHORIZATION": f"Bearer {updated['registration_access_token']}"}
    assert client.delete(uri, **new_auth).status_code == 204
    assert not get_application_model().objects.filter(client_id=body["client_id"]).exists()


def test_management_needs_the_registration_token(client, db):
    _, body = register(client)
    _, other = register(client)
    uri = body["registration_client_uri"].removeprefix("http://127.0.0.1:3000")
    assert client.get(uri).status_code == 401
    wrong = client.get(uri, HTTP_AUTHORIZATION=f"Bearer {other['registration_access_token']}")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_token"


def test_expired_registration_token_is_refused(client, db):
    _, body = register(client)
    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    uri = body["registration_client_uri"].removeprefix("http://127.0.0.1:3000")
    response = client.get(uri, HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}")
    assert response.status_code == 401
