"""Runtimes end to end: ``manage.py server`` starts each workspace's agent and reaches it only
through the agent's own WebSocket; the MCP SDK client drives the whole workflow.

``local``: the agent is a child process of the server. ``command``: the template's launch
command starts it, here inside a network namespace the server cannot reach.
"""

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from tests.helpers import ROOT, clean_env, free_port, start_server, wait_for_line
from tests.mcp_server.conftest import MCP_PATH, mcp_client

pytestmark = pytest.mark.slow
DEADLINE_S = 60


def wait_until(condition, *, what: str, timeout_s: float = DEADLINE_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def agent_pids(marker: str) -> list[int]:
    """Agent processes whose command line mentions ``marker`` (a test's own directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"workspaces.agent" in cmdline
            and any(marker.encode() in part for part in cmdline)
            and alive(int(entry.name))
        ):
            pids.append(int(entry.name))
    return pids


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    token: str
    env: dict[str, str]
    startup: str  # what the server printed up to "Listening on"

    @property
    def mcp_url(self) -> str:
        return self.base + MCP_PATH

    def run(self, scenario):
        """Run ``scenario(client)`` with a fresh MCP SDK client signed in as the first owner."""

        async def main():
            async with mcp_client(self.mcp_url, headers={"Coder-Session-Token": self.token}) as client:
                return await scenario(client)

        return async_to_sync(main)()


@contextlib.contextmanager
def serving(data_dir: Path, *args: str, host: str = "127.0.0.1", **extra: str):
    """``manage.py server`` on a free port with its own data directory; agents it left are
    killed afterwards (they outlive a server on purpose, to reconnect to the next one)."""
    port = free_port()
    base = f"http://{host}:{port}"
    env = clean_env(CODER_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", CODER_ACCESS_URL=base, **extra)
    process = start_server("--bind", f"{host}:{port}", "--experiments", "*", *args, env=env)
    try:
        startup = wait_for_line(process, r"Listening on")
        token = subprocess.run(
            [sys.executable, "manage.py", "createtoken", "admin"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        yield Server(process=process, base=base, token=token, env=env, startup=startup)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in agent_pids(str(data_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def data(result) -> dict:
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def create_workspace(client, name: str, template: str | None = None) -> dict:
    templates = data(await client.call_tool("coder_list_templates", {}))["templates"]
    version = next(t for t in templates if template is None or t["name"] == template)["active_version_id"]
    workspace = data(
        await client.call_tool(
            "coder_create_workspace",
            {"user": "me", "template_version_id": version, "name": name, "rich_parameters": {}},
        )
    )
    return workspace


async def build_log(client, workspace: str) -> str:
    current = data(await client.call_tool("coder_get_workspace", {"workspace_id": workspace}))
    logs = data(
        await client.call_tool("coder_get_workspace_build_logs", {"workspace_build_id": current["latest_build"]["id"]})
    )
    return "\n".join(line["output"] for line in logs["logs"])


async def wait_status(client, workspace: str, status: str) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        current = data(await client.call_tool("coder_get_workspace", {"workspace_id": workspace}))
        if current["latest_build"]["status"] == status:
            return current
        assert time.monotonic() < deadline, f"{workspace} never became {status}: {current['latest_build']['status']}"
        await asyncio.sleep(0.2)


async def bash(client, workspace: str, command: str, **arguments) -> dict:
    return data(
        await client.call_tool("coder_workspace_bash", {"workspace": workspace, "command": command, **arguments})
    )


async def workflow(client, workspace: str) -> int:
    """Every agent tool against a running workspace; returns the pid of a background command."""
    ran = await bash(client, workspace, "echo hello from $CODER_WORKSPACE_NAME; pwd")
    assert ran["exit_code"] == 0 and ran["output"].startswith(f"hello from {workspace}\n")
    home = ran["output"].splitlines()[-1]
    path = f"{home}/src/app.py"
    text = "print('one')\nprint('two')\n"
    data(
        await client.call_tool(
            "coder_workspace_write_file",
            {"workspace": workspace, "path": path, "content": base64.b64encode(text.encode()).decode()},
        )
    )
    read = data(await client.call_tool("coder_workspace_read_file", {"workspace": workspace, "path": path}))
    assert base64.b64decode(read["content"]).decode() == text
    edited = data(
        await client.call_tool(
            "coder_workspace_edit_file",
            {"workspace": workspace, "path": path, "edits": [{"search": "one", "replace": "uno"}]},
        )
    )
    assert edited["replacements"] == 1
    data(
        await client.call_tool(
            "coder_workspace_edit_files",
            {"workspace": workspace, "files": [{"path": path, "edits": [{"search": "two", "replace": "dos"}]}]},
        )
    )
    assert (await bash(client, workspace, f"python3 {path}"))["output"].split() == ["uno", "dos"]
    listing = data(await client.call_tool("coder_workspace_ls", {"workspace": workspace, "path": f"{home}/src"}))
    assert {"path": path, "is_dir": False} in listing["contents"]

    # Streamed output: many chunks through the agent, the channel layer and the MCP stream.
    progress: list[float] = []

    async def on_progress(value, total, message):
        progress.append(value)

    streamed = data(
        await client.call_tool(
            "coder_workspace_bash",
            {"workspace": workspace, "command": "for i in $(seq 1 20000); do echo line $i; done"},
            progress_callback=on_progress,
        )
    )
    assert streamed["output"].splitlines() == [f"line {i}" for i in range(1, 20001)]
    assert len(progress) > 1 and progress[-1] == len(streamed["output"])

    timed_out = await bash(client, workspace, "echo begun; sleep 30", timeout_ms=1000)
    assert timed_out["exit_code"] == 124 and timed_out["output"].startswith("begun")
    started = await bash(client, workspace, "sleep 0.3; echo later > bg.txt", background=True)
    assert started["exit_code"] == 0 and "background" in started["output"]
    sleeper = await bash(client, workspace, "sleep 300", background=True)
    pid = int(sleeper["output"].split("PID ")[1].split(")")[0])
    deadline = time.monotonic() + DEADLINE_S
    while (await bash(client, workspace, "cat bg.txt 2>/dev/null"))["output"] != "later\n":
        assert time.monotonic() < deadline, "the background command never wrote its file"
        await asyncio.sleep(0.1)
    return pid


def test_local_runtime_agent_is_a_child_process_reached_through_its_socket(tmp_path):
    data_dir = tmp_path / "data"
    with serving(data_dir) as server:
        assert f"Agents dial {server.base}" in server.startup

        async def start(client):
            await create_workspace(client, "w")
            await bash(client, "w", "true")  # waits for the start build
            return data(await client.call_tool("coder_get_workspace", {"workspace_id": "w"})), await build_log(
                client, "w"
            )

        workspace, log = server.run(start)
        assert "Waiting for the agent to connect" in log and "Agent main connected" in log
        agent = workspace["latest_build"]["resources"][0]["agents"][0]
        assert (agent["status"], agent["lifecycle_state"]) == ("connected", "ready")
        (agent_pid,) = wait_until(lambda: agent_pids(str(data_dir)), what="the agent process")
        assert parent_of(agent_pid) == server.process.pid, "the local runtime's agent is the server's child"

        background = server.run(lambda client: workflow(client, "w"))
        assert alive(background)
        # The workspace's commands are the agent's children, not the server's.
        assert parent_of(background) == agent_pid

        async def stop(client):
            data(await client.call_tool("coder_create_workspace_build", {"workspace_id": "w", "transition": "stop"}))
            return await wait_status(client, "w", "stopped")

        server.run(stop)
        wait_until(lambda: not alive(background), what="the background command to be killed")
        wait_until(lambda: not alive(agent_pid), what="the agent process to exit")
        assert agent_pids(str(data_dir)) == []
