"""Coder's experiment flags: ``CODER_EXPERIMENTS=a,b`` or ``server --experiments a,b``.

Names are lower-cased, ``*`` enables every experiment, unknown names are logged and
ignored (as Coder does). A gated route whose experiment is off answers 403 with Coder's
message, after authentication has had its say.
"""

import functools
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import JsonResponse

logger = logging.getLogger(__name__)

MCP_SERVER_HTTP = "mcp-server-http"
OAUTH2 = "oauth2"
KNOWN = (MCP_SERVER_HTTP, OAUTH2)


def parse(value: str | Iterable[str]) -> frozenset[str]:
    """The enabled experiments named by a comma list (or an iterable of names)."""
    names = value.split(",") if isinstance(value, str) else value
    enabled: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "*":
            enabled.update(KNOWN)
        elif name in KNOWN:
            enabled.add(name)
        else:
            logger.warning("ignoring unknown experiment %r (known: %s)", name, ", ".join(KNOWN))
    return frozenset(enabled)


def enabled() -> frozenset[str]:
    return settings.CODER_EXPERIMENTS


def is_enabled(name: str) -> bool:
    return name in settings.CODER_EXPERIMENTS


def disabled_message(*names: str) -> str:
    return "This functionality requires enabling the following experiments: " + ", ".join(names)


def disabled_response(*names: str) -> JsonResponse:
    return JsonResponse({"message": disabled_message(*names)}, status=403)


def require(name: str) -> Callable:
    """Decorate a Django view so it answers Coder's 403 while ``name`` is off."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not is_enabled(name):
                return disabled_response(name)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
