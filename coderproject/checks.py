"""System checks that refuse unsafe production settings (ids are stable: coder.E00N)."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def production_settings(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if settings.SECRET_KEY_GENERATED:
        errors.append(
            Error(
                "CODER_DEBUG is off but the secret key is the generated development key.",
                hint="Set CODER_SECRET_KEY (or CODER_SECRET_KEY_FILE) to a long random value shared by every worker.",
                id="coder.E001",
            )
        )
    if not settings.CODER_ACCESS_URL.startswith("https://"):
        errors.append(
            Error(
                f"CODER_DEBUG is off but CODER_ACCESS_URL ({settings.CODER_ACCESS_URL}) is not https.",
                hint="Serve the deployment over TLS and set CODER_ACCESS_URL=https://...; "
                "behind a TLS proxy also set CODER_SECURE_PROXY_SSL_HEADER.",
                id="coder.E002",
            )
        )
    if settings.CODER_MCP_CONFORMANCE_FIXTURE:
        errors.append(
            Error(
                "CODER_DEBUG is off but CODER_MCP_CONFORMANCE_FIXTURE is on (an MCP server without credentials).",
                hint="The conformance fixture is for development: unset CODER_MCP_CONFORMANCE_FIXTURE.",
                id="coder.E003",
            )
        )
    return errors
