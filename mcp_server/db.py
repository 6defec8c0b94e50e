"""ORM access from the MCP sub-application, which runs outside Django's request handler."""

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")

# Its own pool: the event loop's default executor has min(32, CPUs + 4) threads, 6 on a
# 2-core host, shared with everything else. Each thread keeps one database connection.
# Made on first use in each process: a forked worker must not inherit its parent's threads.
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _orm_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=settings.CODER_MCP_ORM_THREADS, thread_name_prefix="mcp-orm")
    return _pool


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
    call = sync_to_async(_with_connection_hygiene(fn), thread_sensitive=False, executor=_orm_pool())
    return await call(*args, **kwargs)
