"""Helpers for OAuth2 tests: PKCE pairs, clients, and the code flow through Django's test client."""

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client
from oauth2_provider.models import get_application_model

REDIRECT_URI = "http://127.0.0.1:43123/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def register(client: Client, **metadata) -> tuple[int, dict]:
    body = {"redirect_uris": [REDIRECT_URI], "client_name": "Test client", "token_endpoint_auth_method": "none"}
    body.update(metadata)
    response = client.post("/oauth2/register", data=json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def make_application(*, confidential: bool = False, redirect_uri: str = REDIRECT_URI, source: str = "manual"):
    """An application created as an operator would (or as DCR/CIMD would, by ``source``)."""
    Application = get_application_model()
    secret = secrets.token_urlsafe(32)
    application = Application.objects.create(
        name="Operator client",
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        client_secret=secret,
        registration_source=source,
    )
    return application, secret


def authorize_params(client_id: str, challenge: str | None, **extra) -> dict:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "xyz",
        "scope": "mcp",
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def redirect_query(response) -> dict[str, str]:
    assert response.status_code == 302, response.content[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def consent(client: Client, params: dict, *, allow: bool = True):
    """GET the consent page (must render), then press Allow or Deny."""
    page = client.get("/oauth2/authorize?" + urlencode(params))
    assert page.status_code == 200, page.content[:800]
    form = page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    if allow:
        data["allow"] = "1"
    return client.post("/oauth2/authorize?" + urlencode(params), data)


def get_code(client: Client, client_id: str, challenge: str, **extra) -> str:
    response = consent(client, authorize_params(client_id, challenge, **extra))
    query = redirect_query(response)
    assert "code" in query, query
    return query["code"]


def exchange(client: Client, code: str, verifier: str | None, client_id: str, secret: str | None = None, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    if secret:
        data["client_secret"] = secret
    data.update(extra)
    return client.post("/oauth2/tokens", {k: v for k, v in data.items() if v is not None})


def refresh(client: Client, refresh_token: str, client_id: str):
    return client.post(
        "/oauth2/tokens", {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    )
