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
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from tests.helpers import ROOT, agent_pids, alive, clean_env, free_port, kill_agents, start_server, wait_for_line
from tests.mcp_server.conftest import MCP_PATH, mcp_client
from tests.workspaces.test_agent import wait_for

pytestmark = pytest.mark.slow
DEADLINE_S = 60


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
        kill_agents(str(data_dir))


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
        (agent_pid,) = wait_for(lambda: agent_pids(str(data_dir)), what="the agent process")
        assert parent_of(agent_pid) == server.process.pid, "the local runtime's agent is the server's child"

        background = server.run(lambda client: workflow(client, "w"))
        assert alive(background)
        # The workspace's commands are the agent's children, not the server's.
        assert parent_of(background) == agent_pid

        async def stop(client):
            data(await client.call_tool("coder_create_workspace_build", {"workspace_id": "w", "transition": "stop"}))
            return await wait_status(client, "w", "stopped")

        server.run(stop)
        wait_for(lambda: not alive(background), what="the background command to be killed")
        wait_for(lambda: not alive(agent_pid), what="the agent process to exit")
        assert agent_pids(str(data_dir)) == []


# ---------------------------------------------------------------------------
# The command runtime: an agent in a network namespace the server cannot reach
# ---------------------------------------------------------------------------


def run_ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@dataclass
class Namespace:
    name: str
    host_address: str  # the server's side of the veth pair
    address: str  # the namespace's side

    def run(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *command], capture_output=True, text=True, **kwargs)


@pytest.fixture
def netns():
    """A network namespace joined to this host by a veth pair only; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if subprocess.run(["which", "ip"], capture_output=True).returncode != 0:
        pytest.skip("the ip command (iproute2) is not installed")
    tag = f"{os.getpid() % 10000}{int(time.time() * 1000) % 100}"
    name, host_side, ns_side = f"coder-agt{tag}", f"cah{tag}", f"can{tag}"
    subnet = f"10.231.{int(tag) % 250}"
    added = run_ip("netns", "add", name)
    if added.returncode != 0:
        pytest.skip(f"this machine forbids network namespaces: ip netns add: {added.stderr.strip()}")
    namespace = Namespace(name=name, host_address=f"{subnet}.1", address=f"{subnet}.2")
    try:
        for args in (
            ("link", "add", host_side, "type", "veth", "peer", "name", ns_side),
            ("link", "set", ns_side, "netns", name),
            ("addr", "add", f"{namespace.host_address}/30", "dev", host_side),
            ("link", "set", host_side, "up"),
            ("netns", "exec", name, "ip", "addr", "add", f"{namespace.address}/30", "dev", ns_side),
            ("netns", "exec", name, "ip", "link", "set", ns_side, "up"),
            ("netns", "exec", name, "ip", "link", "set", "lo", "up"),
        ):
            done = run_ip(*args)
            assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"
        yield namespace
    finally:
        for pid in run_ip("netns", "pids", name).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        run_ip("link", "del", host_side)
        run_ip("netns", "del", name)


def namespace_template(namespace: Namespace, tmp_path: Path) -> str:
    """A command runtime starting the agent inside the namespace, detached, with no server secrets."""
    agent = (
        f"env -i PATH={os.environ['PATH']} PYTHONPATH={ROOT} PYTHONUNBUFFERED=1 {sys.executable} -m workspaces.agent"
        f" --url {{url}} --token {{token}} --directory {tmp_path}/homes/{{workspace_id}}"
    )
    launch = (
        f"setsid ip netns exec {namespace.name} {agent} > {tmp_path}/agent-{{agent_id}}.log 2>&1 < /dev/null &"
        " echo launched {workspace_name} of {owner}"
    )
    return f"""
display_name = "Namespaced"
startup_script = "echo started in the namespace"

[runtime]
kind = "command"
launch = "{launch}"
stop = "echo stopping {{workspace_name}} >> {tmp_path}/runtime.log"
delete = "echo deleting {{workspace_name}} >> {tmp_path}/runtime.log"
"""


async def push_template(client, name: str, manifest: str) -> None:
    upload = data(await client.call_tool("coder_upload_tar_file", {"files": {"template.toml": manifest}}))
    version = data(await client.call_tool("coder_create_template_version", {"file_id": upload["hash"]}))
    deadline = time.monotonic() + DEADLINE_S
    while True:
        logs = data(await client.call_tool("coder_get_template_version_logs", {"template_version_id": version["id"]}))
        if any(line["output"] == "Import done" for line in logs["logs"]):
            break
        assert time.monotonic() < deadline, f"the import did not finish: {logs}"
        await asyncio.sleep(0.2)
    data(
        await client.call_tool(
            "coder_create_template",
            {"name": name, "display_name": name, "description": "", "version_id": version["id"]},
        )
    )


def connect_fails(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return False
    return True


def test_command_runtime_agent_in_a_network_namespace(netns, tmp_path):
    """The server reaches the agent only through the agent's own connection: the namespace
    drops every new inbound connection, yet every tool works through the agent."""
    nft = subprocess.run(["which", "nft"], capture_output=True).returncode == 0
    if nft:
        rules = "table inet agent {\n chain input {\n type filter hook input priority 0;\n"
        rules += " iif != lo ct state new drop\n }\n}\n"  # every new inbound connection but loopback's
        loaded = netns.run("nft", "-f", "-", input=rules)
        assert loaded.returncode == 0, loaded.stderr
    data_dir = tmp_path / "data"
    with serving(data_dir, host=netns.host_address) as server:
        assert f"Agents dial http://{netns.host_address}:" in server.startup

        async def start(client):
            await push_template(client, "namespaced", namespace_template(netns, tmp_path))
            await create_workspace(client, "ns", template="namespaced")
            await bash(client, "ns", "true")
            return await build_log(client, "ns"), data(
                await client.call_tool("coder_get_workspace", {"workspace_id": "ns"})
            )

        log, workspace = server.run(start)
        agent = workspace["latest_build"]["resources"][0]["agents"][0]
        assert agent["directory"] == str(tmp_path / "homes" / workspace["id"]), "the agent reports where it runs"
        assert "Running the runtime's launch command" in log and "launched ns of admin" in log
        assert "Waiting for the agent to connect" in log and "Agent main connected" in log
        (agent_pid,) = wait_for(lambda: agent_pids(str(tmp_path / "homes")), what="the agent process")
        assert Path(f"/proc/{agent_pid}/ns/net").resolve() != Path("/proc/self/ns/net").resolve()

        background = server.run(lambda client: workflow(client, "ns"))
        assert alive(background)

        # Inside the namespace: no listener but what the workspace starts, and the only
        # established connection is the agent's own, outbound to the server.
        port = free_port()

        async def listen(client):
            await bash(client, "ns", f"python3 -m http.server {port} --bind 0.0.0.0", background=True)
            connect = f"socket.create_connection(('{netns.address}', {port}), 5)"
            check = f"python3 -c \"import socket; {connect}; print('ok')\""
            deadline = time.monotonic() + DEADLINE_S
            while (await bash(client, "ns", f"{check} 2>/dev/null"))["output"] != "ok\n":
                assert time.monotonic() < deadline, "the workspace's listener did not start"
                await asyncio.sleep(0.1)

        server.run(listen)
        established = netns.run("ss", "-Htnp", "state", "established").stdout.splitlines()
        server_port = server.base.rsplit(":", 1)[1]
        assert established and all(
            line.split()[3] == f"{netns.host_address}:{server_port}" and f"pid={agent_pid}," in line
            for line in established
        ), established
        if nft:
            assert connect_fails(netns.address, port), "the server reached a port inside the namespace"
            assert (
                server.run(lambda client: bash(client, "ns", "echo still reachable"))["output"] == "still reachable\n"
            )

        async def stop_and_delete(client):
            data(await client.call_tool("coder_create_workspace_build", {"workspace_id": "ns", "transition": "stop"}))
            await wait_status(client, "ns", "stopped")
            stopped = await build_log(client, "ns")
            data(await client.call_tool("coder_create_workspace_build", {"workspace_id": "ns", "transition": "delete"}))
            deadline = time.monotonic() + DEADLINE_S
            while data(await client.call_tool("coder_list_workspaces", {}))["workspaces"]:
                assert time.monotonic() < deadline, "the workspace was not deleted"
                await asyncio.sleep(0.2)
            return stopped

        stop_log = server.run(stop_and_delete)
        assert "Told the agent to shut down" in stop_log and "Running the runtime's stop command" in stop_log
        wait_for(lambda: not alive(background), what="the background command to be killed")
        wait_for(lambda: not alive(agent_pid), what="the agent to exit")
        assert (tmp_path / "runtime.log").read_text() == "stopping ns\ndeleting ns\n"
    if not nft:
        pytest.skip("nft is not installed (apt-get install nftables): inbound connections were not blocked")


# ---------------------------------------------------------------------------
# Faults: the worker holding the agent's socket dies
# ---------------------------------------------------------------------------


@pytest.mark.production
@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")), reason="needs DATABASE_URL and REDIS_URL"
)
def test_agent_reconnects_when_the_worker_holding_its_socket_dies(transactional_db, tmp_path):
    """``server --workers 2`` on PostgreSQL and Redis: kill the worker holding the agent's socket;
    the supervisor restarts it, the agent reconnects to a worker, and the next call succeeds."""
    from django.db import connection

    from workspaces.models import WorkspaceAgent

    database = connection.settings_dict
    database_url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    connection.close()
    data_dir = tmp_path / "data"
    extra = {"DATABASE_URL": database_url, "REDIS_URL": os.environ["REDIS_URL"], "CODER_AGENT_HEARTBEAT_S": "1"}
    with serving(data_dir, "--workers", "2", **extra) as server:

        async def start(client):
            await create_workspace(client, "w")
            return await bash(client, "w", "echo first")

        assert server.run(start)["output"] == "first\n"
        (agent_pid,) = agent_pids(str(data_dir))
        holder = WorkspaceAgent.objects.get(build__workspace__name="w").worker
        holder_pid = int(holder.rsplit(":", 1)[1])
        assert holder_pid in {
            int(p) for p in Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
        }
        os.kill(holder_pid, signal.SIGKILL)
        wait_for_line(server.process, rf"worker \d \(pid {holder_pid}\) exited with -9; restarting")

        def reconnected():
            agent = WorkspaceAgent.objects.get(build__workspace__name="w")
            return agent.status == "connected" and agent.worker != holder and agent.worker

        worker = wait_for(reconnected, what="the agent to reconnect to a worker")
        assert int(worker.rsplit(":", 1)[1]) != holder_pid
        assert alive(agent_pid), "the agent outlives the worker (its own session)"
        assert server.run(lambda client: bash(client, "w", "echo next"))["output"] == "next\n"
