"""The auth bridge: our credentials (session tokens, OAuth access tokens) into the SDK's terms.

``oauth.authentication`` decides who the caller is, exactly as for REST. The result goes
where the SDK looks for it: ``scope["user"]`` as its ``AuthenticatedUser`` (the session
manager binds each session to that principal and answers 404 to anyone else), the SDK's
``auth_context_var`` (``get_access_token()``), and our own context variable holding the
``Credential`` that tools act with. The SDK hands each message's context variables to the
handler that serves it, so these are per request even inside a long session.
"""

import hashlib
import time
from contextvars import ContextVar
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from django.conf import settings
from django.utils import timezone
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import Scope

from oauth.authentication import Credential, aauthenticate_raw_token, find_raw_token, missing_token_error
from oauth.revocation import credentials_generation

_credential: ContextVar[Credential | None] = ContextVar("mcp_credential", default=None)
_client_ip: ContextVar[str] = ContextVar("mcp_client_ip", default="")

# Accepted tokens, by SHA-256 of the raw value, for CODER_MCP_AUTH_CACHE_SECONDS: an agent's
# tool calls come in bursts, and a database lookup per call was the largest cost per request.
# An entry holds only while no credential changed since (oauth.revocation), so a revoked
# token or a suspended user is refused on the next call.
_accepted: dict[str, tuple[float, int, Credential]] = {}
_ACCEPTED_MAX = 10_000


async def authenticate(scope: Scope) -> Credential:
    """The request's credential, or ``AuthError`` (401/403) from the one authentication path."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        headers[key.decode("latin-1").lower()] = value.decode("latin-1")
    cookies = {name: morsel.value for name, morsel in SimpleCookie(headers.get("cookie", "")).items()}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    raw = find_raw_token(cookies=cookies, query=query, headers=headers)
    if raw is None:
        raise missing_token_error()
    key = hashlib.sha256(raw.encode()).hexdigest()
    now = time.monotonic()
    generation = credentials_generation()
    cached = _accepted.get(key)
    if cached is not None:
        valid_until, cached_generation, credential = cached
        if (
            valid_until > now
            and cached_generation == generation
            and (credential.expires_at is None or credential.expires_at > timezone.now())
        ):
            return credential
    credential = await aauthenticate_raw_token(raw, resource=settings.CODER_MCP_URL)
    if settings.CODER_MCP_AUTH_CACHE_SECONDS > 0:
        if len(_accepted) >= _ACCEPTED_MAX:
            _accepted.clear()
        _accepted[key] = (now + settings.CODER_MCP_AUTH_CACHE_SECONDS, generation, credential)
    return credential


def bind(scope: Scope, credential: Credential) -> None:
    """Make ``credential`` the caller for the SDK (sessions, ``get_access_token``) and for tools."""
    user = AuthenticatedUser(
        AccessToken(
            token=credential.key_id,  # an id, never the secret
            client_id="coder",
            scopes=sorted(credential.scopes),
            expires_at=int(credential.expires_at.timestamp()) if credential.expires_at else None,
            resource=credential.resource,
            # Sessions belong to the user, not to one token: a refreshed OAuth token keeps its session.
            subject=str(credential.user.pk),
            claims={"iss": settings.CODER_ACCESS_URL},
        )
    )
    scope["user"] = user
    auth_context_var.set(user)
    _credential.set(credential)
    _client_ip.set((scope.get("client") or ("",))[0] or "")


def current_credential() -> Credential:
    """The caller of the tool being run (every tool runs behind ``authenticate``)."""
    credential = _credential.get()
    if credential is None:
        raise LookupError("no authenticated MCP caller in this context")
    return credential


def current_client_ip() -> str:
    """The address the tool call came from (the connecting peer, as Django's ``REMOTE_ADDR``)."""
    return _client_ip.get()
