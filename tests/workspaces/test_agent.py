"""The workspace agent: a real ``python -m workspaces.agent`` process dialing a real Daphne.

Calls go from this test process through a real Redis channel layer to the consumer holding
the agent's socket in the Daphne process, as a call on one server worker reaches an agent
connected to another.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import clean_env, free_port
from workspaces import selectors, services
from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.models import WorkspaceAgent, WorkspaceAgentLog
from workspaces.runtime import TIMEOUT_EXIT_CODE, Edit, connection_for
from workspaces.runtime.host import _tagged_pids
from workspaces.runtime.remote import ChannelAgentConnection

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 30


def wait_for(condition, *, timeout_s: float = DEADLINE_S, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def redis_url():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_for(answers, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def agent_settings(settings, redis_url):
    """Set before ``daphne_server`` forks, so the server and this process share the layer."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    settings.CODER_AGENT_HEARTBEAT_S = 1
    settings.CODER_WORKSPACE_MAX_FILE_MB = 7  # the server's process policy reaches the agent
    return settings


@pytest.fixture
def agent_workspace(agent_settings, member, starter, daphne_server):
    workspace = services.workspace_create(
        actor=member, owner="me", template_version_id=starter.active_version_id, name="remote"
    )
    workspace = selectors.workspace_wait_ready(actor=member, workspace=workspace, timeout_s=DEADLINE_S)
    assert workspace.status == "running"
    return workspace


class AgentProcess:
    def __init__(self, url: str, token: str, log: Path) -> None:
        self.url, self.token, self.log = url, token, log
        self.process: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workspaces.agent", f"--url={self.url}", f"--token={self.token}"],
                cwd=REPO,
                env=clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def agents(tmp_path):
    started: list[AgentProcess] = []

    def start(url: str, token: str) -> AgentProcess:
        started.append(AgentProcess(url, token, tmp_path / f"agent-{len(started)}.log").start())
        return started[-1]

    yield start
    for agent in started:
        agent.stop()
        print(f"--- {agent.log.name}\n{agent.log.read_text(errors='replace')}")  # shown when a test fails


def agent_row(workspace) -> WorkspaceAgent:
    return WorkspaceAgent.objects.get(build__workspace=workspace, build=workspace.latest_build_id)


def connected(workspace):
    agent = agent_row(workspace)
    return agent if agent.status == "connected" and agent.channel_name else None


def test_agent_serves_the_runtime_interface(agent_workspace, member, daphne_server, agents, admin_client):
    token = services.agent_token_issue(agent=agent_row(agent_workspace))
    assert agent_row(agent_workspace).token_hash not in ("", token)  # stored hashed
    agents(daphne_server, token)
    agent = wait_for(lambda: connected(agent_workspace), what="the agent to connect")
    assert wait_for(lambda: agent_row(agent_workspace).version, what="the agent's hello") == "0.1.0"
    assert agent.last_heartbeat_at is not None
    wait_for(lambda: agent_row(agent_workspace).lifecycle_state == "ready", what="the startup script")
    logs = list(WorkspaceAgentLog.objects.filter(agent=agent).values_list("output", flat=True))
    assert logs, "the agent reports its startup script's output"
    host, pid = agent.worker.rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) != os.getpid(), "the Daphne process holds the socket"
    changelist = admin_client.get("/admin/workspaces/workspaceagent/").content.decode().lower()
    assert all(shown in changelist for shown in ("connected", "ready", "0.1.0", agent.worker.lower())), changelist

    connection = connection_for(selectors.workspace_get(actor=member, ref="remote"))
    assert isinstance(connection, ChannelAgentConnection)

    async def scenario():
        chunks: list[str] = []

        async def on_output(text: str) -> None:
            chunks.append(text)

        echoed = await connection.exec(
            "echo hello from $CODER_WORKSPACE_NAME; exit 3", timeout_s=10, on_output=on_output
        )
        assert echoed.exit_code == 3 and echoed.output == "hello from remote\n"
        assert "".join(chunks) == echoed.output
        limit = await connection.exec("ulimit -f", timeout_s=10)  # in KiB
        assert limit.output == f"{7 * 1024}\n", "the agent applies the server's process policy"
        slow = await connection.exec("echo begun; sleep 30", timeout_s=0.5)
        assert slow.timed_out and slow.exit_code == TIMEOUT_EXIT_CODE and slow.output.startswith("begun")
        background = await connection.exec("sleep 0.2; echo later > bg.txt", timeout_s=5, background=True)
        assert background.exit_code == 0 and "background" in background.output

        await connection.write("notes/a.txt", b"one two two\n")
        assert await connection.read("notes/a.txt") == b"one two two\n"
        assert await connection.read("notes/a.txt", offset=4, limit=3) == b"two"
        entries = await connection.ls("notes")
        assert [(Path(e.path).name, e.is_dir) for e in entries] == [("a.txt", False)]
        edited = await connection.edit("notes/a.txt", [Edit("one", "1"), Edit("two", "2", replace_all=True)])
        assert edited.replacements == 3 and await connection.read("notes/a.txt") == b"1 2 2\n"
        with pytest.raises(InvalidInput) as escape:
            await connection.read("../outside")
        assert escape.value.field == "path"
        with pytest.raises(NotFound):
            await connection.read("missing.txt")
        big = bytes(range(256)) * 4096  # 1 MiB of every byte value
        await connection.write("big.bin", big)
        assert await connection.read("big.bin") == big
        deadline = time.monotonic() + DEADLINE_S
        while (await connection.exec("cat bg.txt 2>/dev/null", timeout_s=5)).output != "later\n":
            assert time.monotonic() < deadline, "the background command never wrote its file"
            await asyncio.sleep(0.1)

    asyncio.run(scenario())


def test_agent_killed_mid_command_then_restarted(agent_workspace, member, daphne_server, agents):
    token = services.agent_token_issue(agent=agent_row(agent_workspace))
    process = agents(daphne_server, token)
    wait_for(lambda: connected(agent_workspace), what="the agent to connect")
    connection = connection_for(selectors.workspace_get(actor=member, ref="remote"))

    async def killed_mid_command():
        started = asyncio.Event()

        async def on_output(text: str) -> None:
            started.set()

        call = asyncio.create_task(connection.exec("echo started; sleep 60", timeout_s=60, on_output=on_output))
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        await asyncio.to_thread(process.stop)
        with pytest.raises(Conflict, match="disconnected during the call"):
            await asyncio.wait_for(call, DEADLINE_S)

    asyncio.run(killed_mid_command())
    wait_for(lambda: agent_row(agent_workspace).status == "disconnected", what="status disconnected")
    began = time.monotonic()
    with pytest.raises(Conflict, match="disconnected; it is not connected"):
        asyncio.run(connection.exec("true", timeout_s=60))
    assert time.monotonic() - began < 5, "a call to a disconnected agent fails fast"

    agents(daphne_server, token)  # the same token is valid until the build stops
    wait_for(lambda: connected(agent_workspace), what="the agent to reconnect")
    assert asyncio.run(connection.exec("echo back", timeout_s=10)).output == "back\n"


def test_forged_and_revoked_tokens_are_refused(agent_workspace, member, daphne_server, agents):
    forged = agents(daphne_server, "not-a-token")
    assert forged.process.wait(timeout=DEADLINE_S) == 2
    assert agent_row(agent_workspace).channel_name == ""  # no socket was accepted

    token = services.agent_token_issue(agent=agent_row(agent_workspace))
    process = agents(daphne_server, token)
    wait_for(lambda: connected(agent_workspace), what="the agent to connect")
    connection = connection_for(selectors.workspace_get(actor=member, ref="remote"))
    asyncio.run(connection.exec("sleep 300 &", timeout_s=10))

    services.workspace_build_create(actor=member, workspace=agent_workspace.id, transition="stop")
    selectors.workspace_wait_ready(actor=member, workspace=agent_workspace, timeout_s=DEADLINE_S)
    assert process.process.wait(timeout=DEADLINE_S) == 0, "the stopped workspace's agent exits"
    agent = agent_row(agent_workspace)
    assert (agent.lifecycle_state, agent.status, agent.token_hash) == ("off", "disconnected", "")
    wait_for(lambda: not _tagged_pids(str(agent_workspace.id)), what="the workspace's processes to end")
    revoked = agents(daphne_server, token)
    assert revoked.process.wait(timeout=DEADLINE_S) == 2
