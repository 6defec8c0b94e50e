"""Load: M concurrent MCP sessions doing a realistic mix against 1 worker and 2 workers.

Each session (an SDK client on the 2025-11-25 session path) loops over ``tools/list``,
``coder_list_workspaces``, ``coder_list_templates`` and ``coder_workspace_bash echo`` on
a running workspace for a fixed time. Prints throughput, p50/p99 latency, errors, server
memory per open session, and the 2-worker/1-worker throughput ratio.

    .venv/bin/python bench/load.py --sessions 50 --seconds 10
    .venv/bin/python bench/load.py --sessions 50 200 1000 --seconds 10
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_throughput import ROOT, free_port, start, stop  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total_kib = 0
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def start_server(workers: int) -> tuple[subprocess.Popen, str, dict[str, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env.update(
        CODER_DATA_DIR=tempfile.mkdtemp(prefix="coder-load-"),
        CODER_EXPERIMENTS="mcp-server-http",
        CODER_LOG_LEVEL="WARNING",
        CODER_FIRST_USER_PASSWORD="bench-password-1",
        # One user drives every session here: the per-user tool-call limit stays checked but out of reach.
        CODER_RATELIMIT_TOOL_CALLS="1000000/1m",
        CODER_RATELIMIT_TOOL_CALLS_PER_IP="1000000/1m",
    )
    server = start(
        [sys.executable, "manage.py", "server", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)], env
    )
    token = subprocess.run(
        [sys.executable, "manage.py", "createtoken", "admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return server, f"http://127.0.0.1:{port}/api/experimental/mcp/http", {"Coder-Session-Token": token}


async def prepare_workspace(url: str, headers: dict[str, str]) -> str:
    """A running workspace from the starter template for the bash calls."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=300) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        templates = (await client.call_tool("coder_list_templates", {})).structured_content
        version = templates["templates"][0]["active_version_id"]
        args = {"user": "me", "template_version_id": version, "name": "load", "rich_parameters": {}}
        await client.call_tool("coder_create_workspace", args)
        ready = await client.call_tool("coder_workspace_bash", {"workspace": "load", "command": "echo ready"})
        assert not ready.is_error, ready.content[0].text
    return "load"


async def one_session(url, headers, workspace, opened, go, until, latencies, errors) -> None:
    try:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
        ):
            opened.append(1)
            await go.wait()
            calls = [
                lambda: client.list_tools(),
                lambda: client.call_tool("coder_list_workspaces", {}),
                lambda: client.call_tool("coder_list_templates", {}),
                lambda: client.call_tool("coder_workspace_bash", {"workspace": workspace, "command": "echo hi"}),
            ]
            n = 0
            while time.monotonic() < until[0]:
                started = time.perf_counter()
                try:
                    result = await calls[n % len(calls)]()
                    if getattr(result, "is_error", False):
                        errors.append(result.content[0].text)
                except Exception as exc:  # a benchmark counts failures rather than stopping
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - started)
                n += 1
    except Exception as exc:
        errors.append(f"session failed: {exc!r}")
        opened.append(1)


async def run_load(server, url, headers, sessions, seconds) -> dict:
    workspace = await prepare_workspace(url, headers)
    base_rss = rss_mib(server.pid)
    opened, latencies, errors = [], [], []
    go, until = asyncio.Event(), [0.0]
    tasks = [
        asyncio.create_task(one_session(url, headers, workspace, opened, go, until, latencies, errors))
        for _ in range(sessions)
    ]
    while len(opened) < sessions:
        await asyncio.sleep(0.05)
    per_session_kib = (rss_mib(server.pid) - base_rss) * 1024 / sessions
    begin = time.monotonic()
    until[0] = begin + seconds
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - begin
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "kib_per_session": per_session_kib,
        "first_error": errors[0] if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[50])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    columns = ("workers", "sessions", "requests", "errors", "req/s", "p50 ms", "p99 ms", "KiB/sess")
    print(" ".join(f"{name:>8}" for name in columns))
    largest_clean: dict[int, int] = {}
    rps: dict[tuple[int, int], float] = {}
    for workers in (1, 2):
        server, url, headers = start_server(workers)
        try:
            for sessions in args.sessions:
                r = asyncio.run(run_load(server, url, headers, sessions, args.seconds))
                rps[workers, sessions] = r["rps"]
                if r["errors"] == 0:
                    largest_clean[workers] = max(largest_clean.get(workers, 0), sessions)
                print(
                    f"{workers:>8} {sessions:>8} {r['requests']:>8} {r['errors']:>8} {r['rps']:>8.0f} "
                    f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['kib_per_session']:>8.0f}"
                )
                if r["first_error"]:
                    print(f"        first error: {r['first_error'][:160]}")
        finally:
            stop(server)
    for sessions in args.sessions:
        print(f"{sessions} sessions: 2 workers / 1 worker throughput = {rps[2, sessions] / rps[1, sessions]:.2f}")
    print(f"largest session count with zero errors: {largest_clean}")


if __name__ == "__main__":
    main()
