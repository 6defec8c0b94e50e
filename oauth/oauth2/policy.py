"""Our rules on top of django-oauth-toolkit: what a client may register and ask for.

One module so dynamic registration, Client ID Metadata Documents, the admin and the
authorization endpoint apply the same rules (a rule enforced in only one of them is a
hole in the others).
"""

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from django.conf import settings
from oauth2_provider.settings import oauth2_settings

MCP_PATH = "/api/experimental/mcp/http"
MCP_SCOPE = "mcp"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
CLIENT_NAME_MAX_LENGTH = 100


class PolicyError(ValueError):
    """A client asked for something our rules refuse; the message is safe to show it."""


def issuer_url() -> str:
    """The authorization server's issuer: the deployment's access URL."""
    return oauth2_settings.OIDC_ISS_ENDPOINT


def mcp_resource_url() -> str:
    """The one resource tokens are issued for by default: the exact MCP URL."""
    return oauth2_settings.OAUTH2_PROTECTED_RESOURCE_IDENTIFIER


def resource_metadata_url() -> str:
    """Where the MCP endpoint's RFC 9728 metadata lives (the path-component form)."""
    return f"{issuer_url()}/.well-known/oauth-protected-resource{MCP_PATH}"


def allowed_resources() -> tuple[str, ...]:
    """Resources a client may name: the MCP endpoint, or the whole deployment (REST API too)."""
    return (mcp_resource_url(), issuer_url())


def canonical_resource(value: str) -> str:
    """The allowed resource ``value`` names (a trailing slash is tolerated), or PolicyError."""
    candidate = value.strip()
    for resource in allowed_resources():
        if candidate in (resource, resource + "/"):
            return resource
    raise PolicyError(f"The resource {value!r} is not served here; use {mcp_resource_url()}.")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def native_schemes() -> tuple[str, ...]:
    return tuple(settings.CODER_OAUTH2_NATIVE_REDIRECT_SCHEMES)


def check_redirect_uri(uri: str) -> None:
    """Raise PolicyError unless ``uri`` is a redirect URI we accept.

    https anywhere; http only to a loopback host (any port, RFC 8252); custom schemes of
    native apps only when allow-listed; never a fragment, credentials or a script scheme.
    """
    if not isinstance(uri, str) or not uri:
        raise PolicyError("Each redirect URI must be a non-empty string.")
    if len(uri) > settings.CODER_OAUTH2_REDIRECT_URI_MAX_LENGTH:
        raise PolicyError(f"Redirect URIs are limited to {settings.CODER_OAUTH2_REDIRECT_URI_MAX_LENGTH} characters.")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in uri):
        raise PolicyError("A redirect URI must not contain whitespace or control characters.")
    if "#" in uri:
        raise PolicyError(f"Redirect URI {uri!r} must not contain a fragment.")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme:
        raise PolicyError(f"Redirect URI {uri!r} must be absolute.")
    if scheme in FORBIDDEN_SCHEMES:
        raise PolicyError(f"Redirect URI scheme {scheme}: is not allowed.")
    if "@" in parts.netloc:
        raise PolicyError(f"Redirect URI {uri!r} must not carry credentials.")
    if scheme == "https":
        if not parts.hostname:
            raise PolicyError(f"Redirect URI {uri!r} has no host.")
        return
    if scheme == "http":
        if not is_loopback_host(parts.hostname):
            raise PolicyError(
                f"Redirect URI {uri!r} uses http to a host that is not loopback; "
                "use https, or http://127.0.0.1 / http://[::1] / http://localhost."
            )
        return
    if scheme not in native_schemes():
        raise PolicyError(
            f"Redirect URI scheme {scheme}: is not allowed; use https, a loopback http URI "
            f"or one of: {', '.join(native_schemes())}."
        )


def check_redirect_uris(uris: object) -> list[str]:
    """The validated list of redirect URIs, or PolicyError (at least one, bounded count)."""
    if not isinstance(uris, list) or not uris:
        raise PolicyError("redirect_uris must be a non-empty array.")
    if len(uris) > settings.CODER_OAUTH2_MAX_REDIRECT_URIS:
        raise PolicyError(f"At most {settings.CODER_OAUTH2_MAX_REDIRECT_URIS} redirect URIs may be registered.")
    for uri in uris:
        check_redirect_uri(uri)
    return list(uris)


def check_grant_types(grant_types: object) -> None:
    if grant_types is None:
        return
    if not isinstance(grant_types, list) or not all(isinstance(g, str) for g in grant_types):
        raise PolicyError("grant_types must be an array of strings.")
    unsupported = sorted(set(grant_types) - set(GRANT_TYPES))
    if unsupported:
        raise PolicyError(f"Unsupported grant_types: {', '.join(unsupported)}; supported: {', '.join(GRANT_TYPES)}.")
    if grant_types and "authorization_code" not in grant_types:
        raise PolicyError("grant_types must include authorization_code.")


def check_response_types(response_types: object) -> None:
    if response_types is None:
        return
    if response_types != ["code"]:
        raise PolicyError('response_types must be ["code"].')


_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def clean_client_name(name: object) -> str:
    """A client name safe to show on the consent page: printable, one line, bounded."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise PolicyError("client_name must be a string.")
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", name))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if len(text) > CLIENT_NAME_MAX_LENGTH:
        text = text[: CLIENT_NAME_MAX_LENGTH - 1].rstrip() + "…"
    return text


def check_client_metadata(data: dict) -> dict:
    """Apply our rules to RFC 7591 metadata; returns it with a cleaned ``client_name``."""
    check_redirect_uris(data.get("redirect_uris"))
    check_grant_types(data.get("grant_types"))
    check_response_types(data.get("response_types"))
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise PolicyError(f"Unsupported token_endpoint_auth_method {method!r}; supported: {', '.join(AUTH_METHODS)}.")
    scope = data.get("scope")
    if scope is not None and (not isinstance(scope, str) or not set(scope.split()) <= set(oauth2_settings.SCOPES)):
        raise PolicyError(f"Unsupported scope {scope!r}; supported: {' '.join(oauth2_settings.SCOPES)}.")
    cleaned = dict(data)
    cleaned["client_name"] = clean_client_name(data.get("client_name"))
    # DOT maps grant_types to one grant; ours are always the code grant (+ refresh).
    cleaned["grant_types"] = list(GRANT_TYPES)
    return cleaned


def redirect_description(uri: str) -> tuple[str, bool]:
    """Where a redirect URI sends the user, in plain words, and whether it is loopback."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        if is_loopback_host(host):
            return f"a program on this computer (port {parts.port or 80})", True
        return host, False
    return f"the {scheme}:// application on this computer", False
