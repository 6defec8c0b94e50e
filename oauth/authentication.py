"""Who the caller is: the one authentication path.

DRF (``TokenAuthentication``), the MCP endpoint and anything else that accepts a
credential call ``find_raw_token`` and ``authenticate_raw_token`` (or its async twin), and
answer failures with ``unauthorized_response``, so every front end finds tokens in the
same places, refuses the same things and says so with the same body and
``WWW-Authenticate`` header.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from coderproject import experiments
from oauth.models import APIKey, User
from oauth.oauth2 import policy
from oauth.services import api_key_mark_used, user_mark_seen

SESSION_TOKEN_COOKIE = "coder_session_token"  # noqa: S105 (a name, not a secret)
SESSION_TOKEN_QUERY = "coder_session_token"  # noqa: S105 (a name, not a secret)
SESSION_TOKEN_HEADER = "coder-session-token"  # noqa: S105 (a name, not a secret)
ACCESS_TOKEN_QUERY = "access_token"  # noqa: S105 (a name, not a secret)

INVALID_TOKEN = "invalid_token"  # noqa: S105 (a name, not a secret)
INSUFFICIENT_SCOPE = "insufficient_scope"
DESCRIPTION_INVALID = "The access token is invalid"
DESCRIPTION_EXPIRED = "The access token has expired"
SIGNED_OUT_MESSAGE = "You are signed out or your session has expired. Please sign in again to continue."

_SESSION_TOKEN = re.compile(r"([A-Za-z0-9]{10})-([A-Za-z0-9]{22})", re.ASCII)


@dataclass(frozen=True)
class Credential:
    """What a request authenticated with: the user and the token's id, scopes and audience."""

    user: User
    kind: str  # "session_token" | "oauth"
    key_id: str
    scopes: frozenset[str]
    expires_at: datetime
    resource: str | None = None


class AuthError(Exception):
    """A refused credential; ``unauthorized_response`` turns it into the HTTP answer."""

    def __init__(
        self,
        message: str,
        detail: str,
        *,
        status: int = 401,
        error: str = INVALID_TOKEN,
        description: str = DESCRIPTION_INVALID,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.error = error
        self.description = description


def missing_token_error() -> AuthError:
    return AuthError(
        SIGNED_OUT_MESSAGE,
        f'Cookie "{SESSION_TOKEN_COOKIE}", header "Coder-Session-Token" or query parameter must be provided.',
    )


def find_raw_token(*, cookies: Mapping[str, str], query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The token a request carries, looked for in Coder's order; ``headers`` use lower-case names."""
    authorization = headers.get("authorization", "")
    scheme, _, bearer = authorization.strip().partition(" ")
    candidates = (
        cookies.get(SESSION_TOKEN_COOKIE),
        query.get(SESSION_TOKEN_QUERY),
        headers.get(SESSION_TOKEN_HEADER),
        bearer.strip() if scheme.lower() == "bearer" else None,
        query.get(ACCESS_TOKEN_QUERY),
    )
    return next((value for value in candidates if value), None)


def authenticate_raw_token(raw: str, *, resource: str | None = None) -> Credential:
    """The credential ``raw`` stands for, or ``AuthError`` saying why it is refused."""
    match = _SESSION_TOKEN.fullmatch(raw) if len(raw) == 33 else None
    if match is None and experiments.is_enabled(experiments.OAUTH2):
        return _authenticate_oauth_access_token(raw, resource=resource)
    if match is None:
        raise AuthError(
            SIGNED_OUT_MESSAGE, "Invalid API key format: expected a 10-character id, '-', and a 22-character secret."
        )
    key_id, secret = match.groups()
    key = APIKey.objects.select_related("user").filter(pk=key_id).first()
    if key is None:
        raise AuthError(SIGNED_OUT_MESSAGE, "API key is invalid.")
    if not hmac.compare_digest(key.hashed_secret, APIKey.hash_secret(secret)):
        raise AuthError(SIGNED_OUT_MESSAGE, "API key secret is invalid.")
    now = timezone.now()
    if key.is_expired(now):
        raise AuthError(
            SIGNED_OUT_MESSAGE, f"API key expired at {key.expires_at.isoformat()}.", description=DESCRIPTION_EXPIRED
        )
    if not key.user.is_active:
        raise AuthError(
            f'User is not active (status = "{key.user.status}"). Contact an admin to reactivate your account.',
            "The token belongs to a suspended user.",
        )
    api_key_mark_used(key=key, now=now)
    return Credential(
        user=key.user,
        kind="session_token",
        key_id=key.id,
        scopes=frozenset(key.scope.split()),
        expires_at=key.expires_at,
        resource=None,
    )


def _authenticate_oauth_access_token(raw: str, *, resource: str | None) -> Credential:
    """An access token from our authorization server, valid for ``resource``.

    It must belong to an active user (a DCR registration token has none), carry the
    ``mcp`` scope and be bound to an audience covering ``resource`` (``None`` means the
    deployment's API as a whole); a token with no audience is refused.
    """
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    token = get_access_token_model().objects.select_related("user").filter(token_checksum=digest).first()
    if token is None or token.user is None:
        raise AuthError(SIGNED_OUT_MESSAGE, "OAuth2 access token is invalid.")
    if token.is_expired():
        raise AuthError(
            SIGNED_OUT_MESSAGE,
            f"OAuth2 access token expired at {token.expires.isoformat()}.",
            description=DESCRIPTION_EXPIRED,
        )
    if not token.user.is_active:
        raise AuthError(
            f'User is not active (status = "{token.user.status}"). Contact an admin to reactivate your account.',
            "The token belongs to a suspended user.",
        )
    target = resource or settings.CODER_ACCESS_URL
    if not token.resource or not token.allows_audience(target):
        raise AuthError(
            SIGNED_OUT_MESSAGE,
            f"OAuth2 access token is not valid for {target}.",
            description="The access token was issued for another resource",
        )
    scopes = frozenset(token.scope.split())
    if policy.MCP_SCOPE not in scopes:
        raise AuthError(
            "Insufficient scope.",
            f"OAuth2 access token lacks the {policy.MCP_SCOPE!r} scope.",
            status=403,
            error=INSUFFICIENT_SCOPE,
            description=f"The access token needs the {policy.MCP_SCOPE} scope",
        )
    user_mark_seen(user=token.user, now=timezone.now())
    return Credential(
        user=token.user,
        kind="oauth",
        key_id=str(token.pk),
        scopes=scopes,
        expires_at=token.expires,
        resource=token.resource[0],
    )


def _authenticate_in_worker(raw: str, resource: str | None) -> Credential:
    """Run in a pool thread: that thread's connection is opened and closed like a request's."""
    close_old_connections()
    try:
        return authenticate_raw_token(raw, resource=resource)
    finally:
        close_old_connections()


async def aauthenticate_raw_token(raw: str, *, resource: str | None = None) -> Credential:
    """``authenticate_raw_token`` for async callers, off the single thread-sensitive ORM thread."""
    return await sync_to_async(_authenticate_in_worker, thread_sensitive=False)(raw, resource)


def www_authenticate(error: AuthError) -> str:
    """Coder's challenge; with ``oauth2`` on it also points clients at our RFC 9728 metadata
    and the scope to ask for, which is how click-to-connect discovers the authorization server."""
    challenge = f'Bearer realm="coder", error="{error.error}", error_description="{error.description}"'
    if experiments.is_enabled(experiments.OAUTH2):
        challenge += f', resource_metadata="{policy.resource_metadata_url()}", scope="{policy.MCP_SCOPE}"'
    return challenge


def unauthorized_response(error: AuthError) -> tuple[int, dict, dict[str, str]]:
    """``(status, JSON body, headers)`` for a refused credential: Coder's body and challenge."""
    return (
        error.status,
        {"message": error.message, "detail": error.detail},
        {"WWW-Authenticate": www_authenticate(error)},
    )


class TokenAuthenticationFailed(exceptions.AuthenticationFailed):
    def __init__(self, error: AuthError) -> None:
        super().__init__(error.message)
        self.auth_error = error


def drf_auth_error(exc: Exception) -> AuthError | None:
    """The ``AuthError`` behind a DRF authentication failure, so the REST error handler answers
    exactly as every other front end does."""
    if isinstance(exc, TokenAuthenticationFailed):
        return exc.auth_error
    if isinstance(exc, exceptions.NotAuthenticated):
        return missing_token_error()
    return None


class TokenAuthentication(BaseAuthentication):
    """DRF adapter over the one path: a request carrying a token is judged by it alone."""

    def authenticate(self, request: Request) -> tuple[User, Credential] | None:
        raw = find_raw_token(cookies=request.COOKIES, query=request.query_params, headers=request.headers)
        if raw is None:
            return None
        try:
            credential = authenticate_raw_token(raw, resource=settings.CODER_ACCESS_URL + request.path)
        except AuthError as error:
            raise TokenAuthenticationFailed(error) from None
        if request.COOKIES.get(SESSION_TOKEN_COOKIE) == raw:
            # A cookie rides along with any cross-site form post: same CSRF rule as sessions.
            SessionAuthentication().enforce_csrf(request)
        return credential.user, credential

    def authenticate_header(self, request: Request) -> str:
        """Makes DRF answer 401 (not 403); the error handler then fills in the precise challenge."""
        return www_authenticate(missing_token_error())
