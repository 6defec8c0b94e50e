"""Writes about users: the first owner, roles, suspension, session tokens."""

import re
import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from coderproject.ratelimit import rate_limit_clear, rate_limit_hit, rate_limit_hits
from oauth import roles
from oauth.models import APIKey, User
from oauth.selectors import login_identity, login_rate, may_manage_tokens


def user_set_roles(*, user: User, role_names: list[str]) -> None:
    """Replace the user's site roles (``member`` is implicit and never stored)."""
    unknown = sorted(set(role_names) - set(roles.SITE_ROLES))
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(roles.SITE_ROLES)}")
    groups = [Group.objects.get_or_create(name=name)[0] for name in role_names if name != roles.MEMBER]
    user.groups.remove(*user.groups.filter(name__in=roles.SITE_ROLES))
    user.groups.add(*groups)
    roles.forget_roles(user)


@transaction.atomic
def user_create_first_owner(*, username: str, password: str = "") -> tuple[User | None, str]:
    """Create the first owner when the deployment has none.

    Returns ``(user, password)`` for a new owner (the password generated when none was
    given, so it can be shown once) or ``(None, "")`` when an owner already exists.
    """
    if _owner_exists():
        return None, ""
    password = password or secrets.token_urlsafe(12)
    try:
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, email="", password=password)
    except IntegrityError:
        if _owner_exists():  # another server process starting at the same moment made it
            return None, ""
        raise
    user_set_roles(user=user, role_names=[roles.OWNER])
    return user, password


def _owner_exists() -> bool:
    return User.objects.filter(is_superuser=True).exists() or User.objects.filter(groups__name=roles.OWNER).exists()


# ---------------------------------------------------------------------------
# Session tokens (API keys)
# ---------------------------------------------------------------------------
DEFAULT_TOKEN_LIFETIME = timedelta(days=30)
LAST_USED_INTERVAL = timedelta(minutes=1)
_TOKEN_NAME = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*", re.ASCII)
_ALPHANUMERIC = string.ascii_letters + string.digits


def _random_alphanumeric(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _field_error(field: str, message: str, *, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def max_token_lifetime() -> timedelta:
    return timedelta(seconds=settings.CODER_MAX_TOKEN_LIFETIME)


def api_key_create(
    *,
    actor: User,
    user: User,
    name: str = "",
    lifetime: timedelta | None = None,
    scope: str = "all",
    login_type: str = APIKey.LoginType.TOKEN,
) -> tuple[APIKey, str]:
    """Make a token for ``user``; returns the key and the raw ``<id>-<secret>``, which exists
    nowhere else afterwards (only the secret's hash is stored)."""
    if not may_manage_tokens(actor=actor, user=user):
        raise User.DoesNotExist(f"No user {user.username!r}.")
    name = name.strip() or f"token-{_random_alphanumeric(6).lower()}"
    if len(name) > 64 or not _TOKEN_NAME.fullmatch(name):
        raise _field_error("token_name", "Use up to 64 letters and digits, optionally joined by '-', '_' or '.'.")
    maximum = max_token_lifetime()
    lifetime = min(DEFAULT_TOKEN_LIFETIME, maximum) if lifetime is None else lifetime
    if lifetime <= timedelta(0) or lifetime > maximum:
        raise _field_error("lifetime", f"The lifetime must be more than 0 and at most {format_lifetime(maximum)}.")
    secret = _random_alphanumeric(22)
    now = timezone.now()
    try:
        with transaction.atomic():
            key = APIKey.objects.create(
                id=_random_alphanumeric(10),
                hashed_secret=APIKey.hash_secret(secret),
                user=user,
                name=name,
                login_type=login_type,
                scope=scope,
                lifetime_seconds=int(lifetime.total_seconds()),
                expires_at=now + lifetime,
            )
            audit_record(
                action=AuditEvent.Action.TOKEN_CREATE,
                user=actor,
                resource_type="api_key",
                resource_id=key.id,
                detail={"token_name": name, "for_user": user.username, "login_type": login_type},
            )
    except IntegrityError:
        raise _field_error("token_name", f"A token named {name!r} already exists.", code="duplicate") from None
    return key, f"{key.id}-{secret}"


def api_key_mark_used(*, key: APIKey, now: datetime) -> None:
    """Record that the key (and its user) were seen, at most once a ``LAST_USED_INTERVAL``:
    authentication runs on every request and must not write on every one."""
    stale = now - LAST_USED_INTERVAL
    if key.last_used is None or key.last_used <= stale:
        APIKey.objects.filter(Q(last_used__isnull=True) | Q(last_used__lte=stale), pk=key.pk).update(last_used=now)
        key.last_used = now
    user_mark_seen(user=key.user, now=now)


def user_mark_seen(*, user: User, now: datetime) -> None:
    """Record that the user was seen (any credential), at most once a ``LAST_USED_INTERVAL``."""
    stale = now - LAST_USED_INTERVAL
    if user.last_seen_at is None or user.last_seen_at <= stale:
        User.objects.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=stale), pk=user.pk).update(
            last_seen_at=now
        )
        user.last_seen_at = now


def api_key_delete(*, actor: User, key: APIKey) -> None:
    """Delete a token: its owner or a site owner may; to anyone else it does not exist."""
    if not may_manage_tokens(actor=actor, user=key.user):
        raise APIKey.DoesNotExist(f"No token {key.id!r}.")
    audit_record(
        action=AuditEvent.Action.TOKEN_DELETE,
        user=actor,
        resource_type="api_key",
        resource_id=key.id,
        detail={"token_name": key.name, "for_user": key.user.username},
    )
    key.delete()


def format_lifetime(value: timedelta) -> str:
    """``30d``, ``12h``, ``15m`` or ``90s``: the shape ``--lifetime`` and the settings accept."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------
# Sign-in rate limit
# ---------------------------------------------------------------------------
def login_failure_record(*, ip: str, username: str) -> None:
    """Count a failed sign-in against this address and username."""
    rate_limit_hit(scope="login", identity=login_identity(ip=ip, username=username), rate=login_rate())


def login_failures_clear(*, ip: str, username: str) -> None:
    rate_limit_clear(scope="login", identity=login_identity(ip=ip, username=username))


def api_key_create_throttle(*, user: User, ip: str) -> int | None:
    """Count a token creation by ``user`` from ``ip``; seconds to wait when over the limits, else None."""
    return rate_limit_hits(
        scope="token-create",
        limits={f"user:{user.pk}": settings.CODER_RATELIMIT_TOKENS, f"ip:{ip}": settings.CODER_RATELIMIT_TOKENS_PER_IP},
    )
