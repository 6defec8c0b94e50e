"""Writes about users: the first owner, roles, suspension."""

import secrets

from django.contrib.auth.models import Group
from django.db import transaction

from oauth import roles
from oauth.models import User


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
    if User.objects.filter(is_superuser=True).exists() or User.objects.filter(groups__name=roles.OWNER).exists():
        return None, ""
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=username, email="", password=password)
    user_set_roles(user=user, role_names=[roles.OWNER])
    return user, password
