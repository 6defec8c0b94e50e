"""Coder's site roles.

Roles are Django groups with Coder's names: a user can hold several (as in Coder), the
admin edits them with no extra UI, and the rules that use them live in service-layer
checks (``has_role``), not in per-model permissions. A superuser is always an owner;
everyone is a member.
"""

from django.contrib.auth.base_user import AbstractBaseUser

OWNER = "owner"
TEMPLATE_ADMIN = "template-admin"
USER_ADMIN = "user-admin"
AUDITOR = "auditor"
MEMBER = "member"
SITE_ROLES = (OWNER, TEMPLATE_ADMIN, USER_ADMIN, AUDITOR, MEMBER)
DISPLAY_NAMES = {
    OWNER: "Owner",
    TEMPLATE_ADMIN: "Template Admin",
    USER_ADMIN: "User Admin",
    AUDITOR: "Auditor",
    MEMBER: "Member",
}

_CACHE_ATTR = "_coder_roles"


def user_roles(user: AbstractBaseUser) -> frozenset[str]:
    """The user's site roles, read once per user object."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    roles = {MEMBER}
    if getattr(user, "is_superuser", False):
        roles.add(OWNER)
    if user.pk is not None:
        roles.update(group.name for group in user.groups.all() if group.name in SITE_ROLES)
    result = frozenset(roles)
    setattr(user, _CACHE_ATTR, result)
    return result


def has_role(user: AbstractBaseUser, *roles: str) -> bool:
    """True when the user holds any of ``roles`` (an owner holds every role)."""
    held = user_roles(user)
    return OWNER in held or any(role in held for role in roles)


def forget_roles(user: AbstractBaseUser) -> None:
    """Drop the cached roles after changing the user's groups."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
