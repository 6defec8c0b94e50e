"""Users and session tokens in Coder's JSON shapes, shared by REST and MCP."""

from datetime import datetime

from oauth import roles
from oauth.models import APIKey, User


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as Coder writes timestamps."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def user_json(user: User) -> dict:
    """Coder's ``codersdk.User`` (REST ``/users/me`` and MCP ``coder_get_authenticated_user``);
    ``member`` is implicit and, as in Coder, not listed."""
    site_roles = sorted(roles.user_roles(user) - {roles.MEMBER})
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "roles": [{"name": name, "display_name": roles.DISPLAY_NAMES[name]} for name in site_roles],
        "status": user.status,
        "created_at": iso(user.date_joined),
        "last_seen_at": iso(user.last_seen_at),
    }


def api_key_json(key: APIKey) -> dict:
    """Coder's ``codersdk.APIKey`` plus the owner's ``username`` (its list form); never the secret."""
    return {
        "id": key.id,
        "user_id": key.user_id,
        "username": key.user.username,
        "token_name": key.name,
        "login_type": key.login_type,
        "scope": key.scope,
        "scopes": key.scope.split(),
        "lifetime_seconds": key.lifetime_seconds,
        "expires_at": iso(key.expires_at),
        "last_used": iso(key.last_used),
        "created_at": iso(key.created_at),
        "updated_at": iso(key.last_used or key.created_at),
    }
