"""Why ``mcp_server.db.run_orm`` uses ``thread_sensitive=False``: parallel ORM work, measured.

Outside Django's request handler (the MCP sub-app), thread-sensitive ``sync_to_async``
funnels every ORM call of the process through one thread. Eight tool calls that each hold
the ORM for 0.2 s (a query plus slow work) then take 8 x 0.2 s; with ``run_orm`` they overlap.

    .venv/bin/python bench/orm_threads.py
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CODER_DATA_DIR", tempfile.mkdtemp(prefix="coder-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coderproject.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.management import call_command  # noqa: E402

from mcp_server.db import run_orm  # noqa: E402
from oauth.models import User  # noqa: E402

CALLS, HOLD_S = 8, 0.2


def slow_lookup() -> int:
    count = User.objects.count()
    time.sleep(HOLD_S)  # stands for a slow query or a long transaction
    return count


async def timed(label: str, call) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(CALLS)))
    elapsed = time.perf_counter() - started
    print(f"{label:<42} {elapsed:6.2f} s for {CALLS} parallel calls of {HOLD_S} s")
    return elapsed


async def main() -> None:
    one_thread = await timed("sync_to_async (thread_sensitive=True)", sync_to_async(slow_lookup))
    pooled = await timed("run_orm (thread_sensitive=False)", lambda: run_orm(slow_lookup))
    print(f"speed-up: {one_thread / pooled:.1f}x")


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    asyncio.run(main())
