"""A counter that moves whenever any credential may have stopped being valid.

Front ends that cache accepted credentials for a few seconds (the MCP endpoint does, to
keep token lookups off the hot path) keep each entry only while the counter has not moved,
so a deleted or revoked token, or a suspended user, is refused on the very next call. The
counter lives in Django's cache: per process in the embedded default (where every change
happens in the serving process) and shared through Redis in production.
"""

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

_KEY = "oauth:credentials-generation"


def credentials_generation() -> int:
    return cache.get(_KEY, 0)


def credentials_changed(**kwargs) -> None:
    """Invalidate every cached acceptance (also usable as a signal receiver)."""
    try:
        cache.incr(_KEY)
    except ValueError:  # not set yet (or evicted)
        cache.add(_KEY, 1, timeout=None)


def connect_signals() -> None:
    """Any save or delete of a key, an OAuth token or a user moves the counter.

    Signals rather than calls in each service because credentials also end in code we do not
    own (django-oauth-toolkit's revocation and refresh-token reuse detection, the admin).
    """
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    from oauth.models import APIKey, User

    for model in (APIKey, User, get_access_token_model(), get_refresh_token_model()):
        post_save.connect(credentials_changed, sender=model, dispatch_uid=f"credentials-save-{model._meta.label}")
        post_delete.connect(credentials_changed, sender=model, dispatch_uid=f"credentials-delete-{model._meta.label}")
