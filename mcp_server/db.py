"""ORM access from the MCP sub-application, which runs outside Django's request handler."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def _with_connection_hygiene(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return call


async def run_orm(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run self-contained ORM work (a selector, a service) on a worker thread.

    ``thread_sensitive=False``: Django's default would funnel every ORM call of the
    process through one thread, so parallel tool calls would queue behind each other.
    Each call is self-contained (its own transaction), which is what makes that safe.
    Connections are closed around the call as Django's handler would do per request.
    """
    return await sync_to_async(_with_connection_hygiene(fn), thread_sensitive=False)(*args, **kwargs)
