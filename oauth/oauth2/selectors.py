"""Reads about OAuth applications and the access users granted them."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from oauth.models import User


@dataclass(frozen=True)
class AuthorizedApplication:
    """An application holding live tokens for a user, as the settings page lists it."""

    id: int
    name: str
    client_id: str
    registered_itself: bool
    first_authorized_at: datetime
    last_authorized_at: datetime


def _user_grants(user: User) -> Q:
    """Tokens the user granted through consent (not DCR registration tokens)."""
    return Q(user=user) & ~Q(scope=oauth2_settings.DCR_REGISTRATION_SCOPE)


def authorized_application_list(*, user: User) -> list[AuthorizedApplication]:
    """The applications that can still act as ``user``: a live access token or refresh token."""
    now = timezone.now()
    access = get_access_token_model().objects.filter(_user_grants(user), application=OuterRef("pk"), expires__gt=now)
    refresh = get_refresh_token_model().objects.filter(user=user, application=OuterRef("pk"), revoked__isnull=True)
    applications = (
        get_application_model()
        .objects.filter(Exists(access) | Exists(refresh))
        .annotate(
            first_at=Min("accesstoken__created", filter=Q(accesstoken__user=user)),
            last_at=Max("accesstoken__created", filter=Q(accesstoken__user=user)),
        )
        .order_by("name", "pk")
    )
    return [
        AuthorizedApplication(
            id=application.pk,
            name=application.name or application.client_id,
            client_id=application.client_id,
            registered_itself=application.registration_source != application.RegistrationSource.MANUAL,
            first_authorized_at=application.first_at or application.created,
            last_authorized_at=application.last_at or application.created,
        )
        for application in applications
    ]


def stale_dynamic_application_list(*, idle_since: datetime) -> QuerySet:
    """Self-registered clients created before ``idle_since`` that have had no live token since."""
    Application = get_application_model()
    access = (
        get_access_token_model()
        .objects.filter(application=OuterRef("pk"), expires__gt=idle_since)
        .exclude(scope=oauth2_settings.DCR_REGISTRATION_SCOPE)
    )
    refresh = get_refresh_token_model().objects.filter(
        application=OuterRef("pk"), revoked__isnull=True, created__gt=idle_since
    )
    return Application.objects.filter(
        registration_source__in=[Application.RegistrationSource.DCR, Application.RegistrationSource.CIMD],
        created__lt=idle_since,
    ).exclude(Exists(access) | Exists(refresh))
