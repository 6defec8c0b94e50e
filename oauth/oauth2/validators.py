"""django-oauth-toolkit's request validator with our rules (``OAUTH2_VALIDATOR_CLASS``)."""

import hashlib

from django.core.cache import cache
from oauth2_provider.models import get_access_token_model, get_refresh_token_model, revoke_access_token
from oauth2_provider.oauth2_validators import OAuth2Validator as DOTValidator

from oauth.oauth2 import policy

# How long a redeemed authorization code is remembered, to punish its replay.
USED_CODE_MEMORY_SECONDS = 600


def _used_code_key(code: str) -> str:
    return "oauth2:used-code:" + hashlib.sha256(code.encode()).hexdigest()


class OAuth2Validator(DOTValidator):
    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs) -> bool:
        """Registered, and still within our redirect rules (e.g. http only to loopback),
        whoever registered it."""
        try:
            policy.check_redirect_uri(redirect_uri)
        except policy.PolicyError:
            return False
        return super().validate_redirect_uri(client_id, redirect_uri, request, *args, **kwargs)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """A suspended user's refresh tokens stop working with their access tokens."""
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        return bool(request.user and request.user.is_active)

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            self._revoke_tokens_of_replayed_code(code)
            return False
        return bool(request.user and request.user.is_active)

    def save_bearer_token(self, token, request, *args, **kwargs):
        result = super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code":
            checksum = hashlib.sha256(token["access_token"].encode()).hexdigest()
            family = (
                get_refresh_token_model()
                .objects.filter(access_token__token_checksum=checksum)
                .values_list("token_family", flat=True)
                .first()
            )
            request.issued_tokens = {"access": checksum, "family": str(family) if family else None}
        return result

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Redeem the code, and remember (in the shared cache) which tokens it bought."""
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        issued = getattr(request, "issued_tokens", None)
        if issued:
            cache.set(_used_code_key(code), issued, USED_CODE_MEMORY_SECONDS)

    def _revoke_tokens_of_replayed_code(self, code: str) -> None:
        """A code presented twice was stolen or leaked: revoke what it bought, including what
        its refresh token has since been rotated into (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3)."""
        issued = cache.get(_used_code_key(code)) if code else None
        if issued is None:
            return
        if issued["family"]:
            get_refresh_token_model().revoke_family(issued["family"])
        token = get_access_token_model().objects.filter(token_checksum=issued["access"]).first()
        if token is not None:
            revoke_access_token(token)
