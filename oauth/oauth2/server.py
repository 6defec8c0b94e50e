"""The oauthlib server django-oauth-toolkit drives (``OAUTH2_SERVER_CLASS``).

oauthlib's all-in-one ``Server`` also speaks the implicit, password, client-credentials
and device grants and accepts the ``plain`` PKCE method (and treats a missing method as
``plain``). We serve only what MCP clients need, so anything else is refused by the
protocol layer itself, before a user sees a consent page: the authorization code grant
with PKCE S256, and refresh tokens.
"""

from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.endpoints import (
    AuthorizationEndpoint,
    RevocationEndpoint,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749.grant_types import AuthorizationCodeGrant, RefreshTokenGrant
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256
from oauthlib.oauth2.rfc6749.tokens import BearerToken

from oauth.oauth2 import policy


def bind_resource(request) -> dict:
    """Bind the authorization to one of our resources (RFC 8707) before consent.

    A missing ``resource`` means the MCP endpoint; a resource we do not serve is refused
    with ``invalid_target``. Runs on the consent page's GET and again on its POST, so a
    tampered hidden field cannot widen the audience.
    """
    # Credentials from the consent form are attributes; a GET carries query parameters.
    values = vars(request).get("resource", getattr(request, "resource", None))
    if isinstance(values, str):
        values = [values]
    values = [v for v in (values or []) if v]
    try:
        resources = sorted({policy.canonical_resource(v) for v in values}) or [policy.mcp_resource_url()]
    except policy.PolicyError as exc:
        raise errors.CustomOAuth2Error(error="invalid_target", description=str(exc), request=request) from None
    request.resource = resources
    return {}


class S256AuthorizationCodeGrant(AuthorizationCodeGrant):
    """The code grant with only the S256 PKCE method: ``plain`` and a missing method fail."""

    _code_challenge_methods = {"S256": code_challenge_method_s256}


class Server(AuthorizationEndpoint, TokenEndpoint, RevocationEndpoint):
    """Authorization code (PKCE S256) and refresh token grants, and revocation. Bearer tokens
    are checked by ``oauth.authentication``, not here."""

    def __init__(
        self, request_validator, token_expires_in=None, token_generator=None, refresh_token_generator=None, **_
    ):
        self.auth_grant = S256AuthorizationCodeGrant(request_validator, post_auth=[bind_resource])
        self.refresh_grant = RefreshTokenGrant(request_validator)
        self.bearer = BearerToken(request_validator, token_generator, token_expires_in, refresh_token_generator)
        AuthorizationEndpoint.__init__(
            self,
            default_response_type="code",
            response_types={"code": self.auth_grant},
            default_token_type=self.bearer,
        )
        TokenEndpoint.__init__(
            self,
            default_grant_type="authorization_code",
            grant_types={"authorization_code": self.auth_grant, "refresh_token": self.refresh_grant},
            default_token_type=self.bearer,
        )
        RevocationEndpoint.__init__(self, request_validator)
