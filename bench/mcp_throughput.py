"""MCP throughput: our full endpoint against a bare MCPServer under the same ASGI server (Daphne).

N concurrent SDK clients (2025-11-25 sessions) alternate ``tools/call
coder_get_authenticated_user`` and ``tools/list`` for a fixed time, first against our
server (token auth, experiment gate, session records, ORM), then against
``bench/bare_mcp_server.py`` (the ceiling). Prints requests/s, p50/p99 latency and ours/bare.

    .venv/bin/python bench/mcp_throughput.py --clients 10 --seconds 10
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "Listening" in line:
            return process
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def one_client(url: str, headers: dict[str, str], until: float, latencies: list[float], errors: list[str]):
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        call = 0
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                if call % 2 == 0:
                    result = await client.call_tool("coder_get_authenticated_user", {})
                    if result.is_error:
                        errors.append(result.content[0].text)
                else:
                    await client.list_tools()
            except Exception as exc:  # a benchmark counts failures rather than stopping
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - started)
            call += 1


async def load(url: str, headers: dict[str, str], clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    # Warm up (session manager start, imports, connections), then measure.
    await asyncio.gather(*(one_client(url, headers, time.monotonic() + 1, [], []) for _ in range(clients)))
    begin = time.monotonic()
    await asyncio.gather(*(one_client(url, headers, begin + seconds, latencies, errors) for _ in range(clients)))
    elapsed = time.monotonic() - begin
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "first_error": errors[0] if errors else "",
    }


def start_ours() -> tuple[subprocess.Popen, str, dict[str, str]]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="coder-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env.update(CODER_DATA_DIR=data_dir, CODER_EXPERIMENTS="mcp-server-http", CODER_LOG_LEVEL="WARNING")
    # One user drives every session here: keep the per-user tool-call limit checked (its cost is
    # measured) but out of reach.
    env.update(CODER_RATELIMIT_TOOL_CALLS="1000000/1m", CODER_RATELIMIT_TOOL_CALLS_PER_IP="1000000/1m")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    create_user = "from oauth.models import User; User.objects.create_user('bench')"
    subprocess.run([*manage, "shell", "-c", create_user], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*manage, "createtoken", "bench"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    server = start([*manage, "server", "--bind", f"127.0.0.1:{port}"], env)
    return server, f"http://127.0.0.1:{port}/api/experimental/mcp/http", {"Coder-Session-Token": token}


def start_bare() -> tuple[subprocess.Popen, str, dict[str, str]]:
    port = free_port()
    server = start([sys.executable, "bench/bare_mcp_server.py", str(port)], dict(os.environ))
    return server, f"http://127.0.0.1:{port}/mcp", {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server; medians are shown")
    args = parser.parse_args()
    servers = {"ours": start_ours(), "bare": start_bare()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        # Alternate the servers so a noisy neighbour on a shared machine hits both alike.
        for _ in range(args.rounds):
            for name, (_, url, headers) in servers.items():
                runs[name].append(asyncio.run(load(url, headers, args.clients, args.seconds)))
    finally:
        for process, _, _ in servers.values():
            stop(process)
    print(f"{args.clients} concurrent SDK clients, {args.rounds} x {args.seconds:g} s each, tools/call + tools/list")
    print(f"{'server':<6} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   (medians)")
    medians = {}
    for name, results in runs.items():
        medians[name] = {key: statistics.median(r[key] for r in results) for key in ("rps", "p50_ms", "p99_ms")}
        requests, errors = sum(r["requests"] for r in results), sum(r["errors"] for r in results)
        m = medians[name]
        print(f"{name:<6} {requests:>9} {errors:>7} {m['rps']:>8.0f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f}")
        first_error = next((r["first_error"] for r in results if r["first_error"]), "")
        if first_error:
            print(f"       first error: {first_error[:200]}")
    print(f"ours/bare throughput: {medians['ours']['rps'] / medians['bare']['rps']:.2f}")


if __name__ == "__main__":
    main()
