"""One rate-limit helper for every surface: sign-in, tokens, OAuth registration and token
endpoint, MCP tool calls.

Counts live in Django's cache (in memory for one process, Redis in production so every
worker shares them). A count starts with the first hit and expires ``window`` seconds
later; ``Retry-After`` is the time left until then. Identities are hashed into the key,
so usernames and addresses of any shape are safe there.
"""

import hashlib
import math
import time

from asgiref.sync import sync_to_async
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from coderproject.env import Rate


def _key(scope: str, identity: str) -> str:
    return f"ratelimit:{scope}:{hashlib.sha256(identity.encode()).hexdigest()}"


def _retry_after(key: str, rate: Rate) -> int:
    started = cache.get(key + ":t") or time.time()
    return max(1, math.ceil(started + rate.window - time.time()))


def rate_limit_exceeded(*, scope: str, identity: str, rate: Rate) -> int | None:
    """Seconds to wait if ``identity`` has used up ``rate`` (without counting a hit), else None."""
    if rate.limit <= 0:
        return None
    key = _key(scope, identity)
    if (cache.get(key) or 0) >= rate.limit:
        return _retry_after(key, rate)
    return None


def rate_limit_hit(*, scope: str, identity: str, rate: Rate) -> int | None:
    """Count one hit; seconds to wait if this hit went over ``rate``, else None."""
    if rate.limit <= 0:
        return None
    key = _key(scope, identity)
    if cache.add(key, 0, timeout=rate.window):
        cache.set(key + ":t", time.time(), timeout=rate.window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this hit starts a new window
        cache.set(key, 1, timeout=rate.window)
        cache.set(key + ":t", time.time(), timeout=rate.window)
        count = 1
    return _retry_after(key, rate) if count > rate.limit else None


def rate_limit_hits(*, scope: str, limits: dict[str, Rate]) -> int | None:
    """Count one hit for each identity against its rate (e.g. ``{"user:7": per_user,
    "ip:10.0.0.1": per_ip}``); the longest wait, or None when every one is within its rate."""
    waits = [
        wait for identity, rate in limits.items() if (wait := rate_limit_hit(scope=scope, identity=identity, rate=rate))
    ]
    return max(waits) if waits else None


def rate_limit_clear(*, scope: str, identity: str) -> None:
    key = _key(scope, identity)
    cache.delete_many([key, key + ":t"])


async def arate_limit_hits(*, scope: str, limits: dict[str, Rate]) -> int | None:
    """``rate_limit_hits`` for async callers: in-memory counts inline, a networked cache off the loop."""
    if all(rate.limit <= 0 for rate in limits.values()):
        return None
    if isinstance(caches["default"], LocMemCache):
        return rate_limit_hits(scope=scope, limits=limits)
    return await sync_to_async(rate_limit_hits, thread_sensitive=False)(scope=scope, limits=limits)
