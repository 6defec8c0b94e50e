"""Writes about OAuth grants: a user revoking an application, cleaning stale clients."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
    revoke_access_token,
)

from audit.models import AuditEvent
from audit.services import audit_record
from oauth.models import User
from oauth.oauth2 import selectors


@transaction.atomic
def application_authorization_revoke(*, user: User, application_id: int) -> None:
    """Revoke every token ``user`` granted the application; its next call gets 401.

    Only the user's own grants are touched; an application the user never authorized is
    reported missing (``DoesNotExist``), whoever owns it.
    """
    Application = get_application_model()
    if not any(app.id == application_id for app in selectors.authorized_application_list(user=user)):
        raise Application.DoesNotExist(f"No authorized application {application_id}.")
    for refresh_token in get_refresh_token_model().objects.filter(
        user=user, application_id=application_id, revoked__isnull=True
    ):
        refresh_token.revoke()
    for access_token in get_access_token_model().objects.filter(user=user, application_id=application_id):
        revoke_access_token(access_token)
    audit_record(
        action=AuditEvent.Action.OAUTH_REVOKE, user=user, resource_type="oauth_application", resource_id=application_id
    )


def stale_dynamic_clients_delete(*, idle_for: timedelta) -> int:
    """Delete self-registered clients that never got a token, or whose tokens all expired
    more than ``idle_for`` ago. Returns how many were deleted."""
    stale = selectors.stale_dynamic_application_list(idle_since=timezone.now() - idle_for)
    count = stale.count()
    get_application_model().objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return count
