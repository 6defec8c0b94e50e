"""django-oauth-toolkit's request validator with our rules (``OAUTH2_VALIDATOR_CLASS``)."""

from oauth2_provider.oauth2_validators import OAuth2Validator as DOTValidator

from oauth.oauth2 import policy


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
            return False
        return bool(request.user and request.user.is_active)
