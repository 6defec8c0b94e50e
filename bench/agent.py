"""The workspace agent's cost, as ratios against the in-process runtime in the same run.

    .venv/bin/python bench/agent.py [--commands 200] [--files 30]

Starts ``manage.py server`` (its local runtime launches the agent as a child process) on a
private data directory and a Redis channel layer (REDIS_URL, or a private ``redis-server``),
creates a workspace, then times from this process, alternating: ``exec("true")``, a
1 MiB and a 256 KiB ``read`` through the agent (channel layer -> the server's consumer -> the agent's
WebSocket -> the agent's host code, and back) against the same calls on a direct
``LocalAgentConnection`` over the same directory.
"""

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mcp_throughput import free_port  # noqa: E402 (bench/ is on the path from here)


def wait(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.1)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def measure(connection, direct, commands: int, files: int) -> None:
    from runtime import MIB, interleaved, row  # bench/runtime.py (sets Django up: import after the env)

    print(f"Command round trip ({commands} runs each, alternating):")

    async def exec_true(conn) -> None:
        assert (await conn.exec("true", timeout_s=10)).exit_code == 0

    timings = await interleaved({"direct": lambda: exec_true(direct), "agent": lambda: exec_true(connection)}, commands)
    row('direct LocalAgentConnection.exec("true")  (reference)', timings["direct"])
    row('through the agent exec("true")', timings["agent"], timings["direct"])

    await direct.write("bench.bin", os.urandom(MIB))

    for size, label in ((MIB, "1 MiB"), (MIB // 4, "256 KiB (the MCP read tool's page)")):

        async def read(conn, size=size) -> None:
            assert len(await conn.read("bench.bin", limit=size)) == size

        print(f"{label} read ({files} runs each, alternating):")
        timings = await interleaved({"direct": lambda: read(direct), "agent": lambda: read(connection)}, files)
        row("direct LocalAgentConnection.read  (reference)", timings["direct"])
        row("through the agent read", timings["agent"], timings["direct"])


def main(commands: int, files: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="coder-bench-agent-"))
    children: list[subprocess.Popen] = []
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("needs REDIS_URL or redis-server: this process reaches the server's agent socket through Redis")
        redis_port = free_port()
        children.append(
            subprocess.Popen(
                [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        wait(lambda: answers(redis_port), "redis-server")
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CODER_") and k != "DATABASE_URL"},
        "CODER_DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "coderproject.settings",
    }
    os.environ.update(env)
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 (open for the server's lifetime)
    children.append(
        subprocess.Popen(
            [sys.executable, "manage.py", "server", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    try:
        wait(lambda: answers(port), "the server")
        import django

        django.setup()
        from oauth.models import User
        from workspaces import selectors, services
        from workspaces.models import Template
        from workspaces.runtime import connection_for
        from workspaces.runtime.local import LocalAgentConnection, build_environment, process_policy

        owner = User.objects.get(username="admin")
        starter = Template.objects.get(name="starter")
        workspace = services.workspace_create(
            actor=owner, owner="me", template_version_id=starter.active_version_id, name="bench"
        )
        workspace = selectors.workspace_wait_ready(actor=owner, workspace=workspace, timeout_s=60)
        connection = connection_for(workspace)
        build = workspace.latest_build
        direct = LocalAgentConnection(  # the same limits and sandbox as the agent applies
            root=Path(connection.directory),
            env=build_environment(build),
            workspace_id=str(workspace.id),
            policy=process_policy(),
        )
        print(f"Agent: {type(connection).__name__} over {redis_url}; sandbox {process_policy().sandbox}")
        asyncio.run(measure(connection, direct, commands, files))
        services.workspace_build_create(actor=owner, workspace=workspace.id, transition="stop")
        selectors.workspace_wait_ready(actor=owner, workspace=workspace, timeout_s=60)
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--files", type=int, default=30)
    arguments = parser.parse_args()
    main(arguments.commands, arguments.files)
