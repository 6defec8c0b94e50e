"""Starting and stopping a build's agent, the way the template's ``[runtime]`` says.

``local`` runs ``python -m workspaces.agent`` as a child process of the server, dialing the
server's own URL; ``command`` runs the template's launch, stop and delete commands on the
server host. Either way the agent then dials in like any remote agent, and the provisioner
waits for it. Agents and runtime commands get a minimal environment: no server secrets.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from django.conf import settings

from workspaces.models import WorkspaceAgent, WorkspaceBuild
from workspaces.runtime.host import LocalAgentConnection
from workspaces.runtime.local import PASSED_THROUGH, host_environment

AGENT_LOG = Path(".coder") / "logs" / "agent.log"
# Agents and runtime commands also get the server user's HOME and USER (ssh and kubectl
# find their configuration there).
_HOST_VARIABLES = (*PASSED_THROUGH, "HOME", "USER")


def agent_log_path(directory: Path) -> Path:
    return Path(directory) / AGENT_LOG


def log_tail(path: Path, *, lines: int = 20) -> str:
    """The last lines of a log file ('' when there is none), to explain a failed start."""
    try:
        with open(path, errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).strip()
    except OSError:
        return ""


def launch_local_agent(*, url: str, token: str, directory: Path) -> int:
    """Start the agent as a child in its own session, its output in the workspace's agent log.

    The token travels in the environment, not the command line other users can read.
    A thread reaps the child whoever ends it.
    """
    log_path = agent_log_path(directory)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **host_environment(_HOST_VARIABLES),
        "PYTHONPATH": str(settings.BASE_DIR),
        "PYTHONUNBUFFERED": "1",
        "CODER_AGENT_TOKEN": token,
    }
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "workspaces.agent", "--url", url, "--directory", str(directory)],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    threading.Thread(target=process.wait, name=f"reap-agent-{process.pid}", daemon=True).start()
    return process.pid


def local_agent_alive(*, pid: int, directory: str | Path) -> bool:
    """Whether ``pid`` is still this workspace's agent (not exited, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and b"workspaces.agent" in cmdline and str(directory).encode() in cmdline


def stop_local_agent(*, pid: int, directory: str | Path, grace_s: float = 5) -> bool:
    """Give the agent ``grace_s`` to exit after its shutdown message, then kill its process
    group; True when it had to be killed."""
    deadline = time.monotonic() + grace_s
    while local_agent_alive(pid=pid, directory=directory):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its own session: the group id is its pid
            return True
        time.sleep(0.05)
    return False


def runtime_values(*, build: WorkspaceBuild, agent: WorkspaceAgent | None, token: str | None = None) -> dict:
    """What a runtime command's placeholders stand for (``token`` only when launching)."""
    values = {
        "url": settings.CODER_AGENT_URL,
        "workspace_id": str(build.workspace_id),
        "workspace_name": build.workspace.name,
        "owner": build.workspace.owner.username,
        "agent_id": str(agent.id) if agent is not None else "",
    }
    if token is not None:
        values["token"] = token
    return values


def command_connection(*, directory: Path) -> LocalAgentConnection:
    """Where runtime commands run: the server host, in the workspace's directory there, with the
    server user's HOME (ssh and kubectl find their configuration) and without the workspace's
    process tag, so stopping the workspace does not kill an agent a launch command started here."""
    directory.mkdir(parents=True, exist_ok=True)
    return LocalAgentConnection(root=directory, env=host_environment(_HOST_VARIABLES), workspace_id="")
