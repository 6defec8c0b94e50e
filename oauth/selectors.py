"""Reads about users and their session tokens, with the visibility rules applied."""

from django.conf import settings
from django.db.models import QuerySet

from coderproject.env import Rate
from coderproject.ratelimit import rate_limit_exceeded
from oauth import roles
from oauth.models import APIKey, User


def may_manage_tokens(*, actor: User, user: User) -> bool:
    """A user manages their own tokens; a site owner manages everyone's."""
    return actor.pk == user.pk or roles.has_role(actor, roles.OWNER)


def token_owner_get(*, actor: User, ref: str) -> User:
    """The user named by ``ref`` (``me``, a username or an id) whose tokens ``actor`` may
    manage; anyone else is reported missing, so strangers learn nothing."""
    if ref == "me":
        return actor
    lookup = {"pk": int(ref)} if ref.isdecimal() else {"username": ref}
    user = User.objects.filter(**lookup).first()
    if user is None or not may_manage_tokens(actor=actor, user=user):
        raise User.DoesNotExist(f"No user {ref!r}.")
    return user


def api_key_list(*, actor: User, user: User | None) -> QuerySet[APIKey]:
    """``user``'s tokens, or with ``user=None`` every user's (owners only; others get their own)."""
    keys = APIKey.objects.select_related("user").filter(login_type=APIKey.LoginType.TOKEN)
    if user is None:
        return keys if roles.has_role(actor, roles.OWNER) else keys.filter(user=actor)
    return keys.filter(user=user) if may_manage_tokens(actor=actor, user=user) else keys.none()


def api_key_get(*, actor: User, user: User, key_id: str = "", name: str = "") -> APIKey:
    """One of ``user``'s keys by id or by name."""
    lookup = {"pk": key_id} if key_id else {"name": name}
    key = APIKey.objects.select_related("user").filter(user=user, **lookup).first()
    if key is None or not may_manage_tokens(actor=actor, user=user):
        raise APIKey.DoesNotExist(f"No token {key_id or name!r}.")
    return key


def login_rate() -> Rate:
    """``CODER_LOGIN_MAX_FAILURES`` failed sign-ins per ``CODER_LOGIN_LOCKOUT``."""
    return Rate(limit=settings.CODER_LOGIN_MAX_FAILURES, window=settings.CODER_LOGIN_LOCKOUT)


def login_identity(*, ip: str, username: str) -> str:
    return f"{ip}\0{username.strip().lower()}"


def login_throttled_for(*, ip: str, username: str) -> int | None:
    """Seconds until this address may try this username again, once it failed too often; else None."""
    return rate_limit_exceeded(scope="login", identity=login_identity(ip=ip, username=username), rate=login_rate())
