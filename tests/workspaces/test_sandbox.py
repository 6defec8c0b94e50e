"""The workspace sandbox (bubblewrap) with real processes: what a command may do in its
workspace, and escape attempts that must all fail. The policy is the server's own
(``local.process_policy()``), so the hidden paths are the ones a deployment hides.

The escape table's rows each try one way out and assert, on the host, that nothing leaked
or changed.
"""

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from coderproject.checks import workspace_sandbox
from tests.helpers import alive
from tests.workspaces.conftest import run_jobs
from workspaces import selectors
from workspaces.errors import Conflict
from workspaces.runtime.host import PROCESS_LIMIT_NOTE, _tagged_pids, find_sandbox, pids_cgroup_base
from workspaces.runtime.local import (
    LocalAgentConnection,
    kill_workspace_processes,
    process_policy,
    workspace_directory,
)
from workspaces.services import workspace_create

pytestmark = pytest.mark.skipif(find_sandbox()[0] is None, reason=f"no sandbox here: {find_sandbox()[1]}")

OTHER_SECRET = "other-workspace-secret-51c2"


def run(coro):
    return asyncio.run(coro)


def wait_for(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def connect(workspace_id: str) -> LocalAgentConnection:
    root = workspace_directory(workspace_id)
    root.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "CODER_WORKSPACE_ID": workspace_id}
    return LocalAgentConnection(root=root, env=env, workspace_id=workspace_id, policy=process_policy())


@pytest.fixture
def sandbox_on(settings):
    settings.CODER_WORKSPACE_SANDBOX = "required"


@pytest.fixture
def conn(sandbox_on, workspaces_dir):
    connection = connect(f"sandbox-{os.getpid()}-a")
    yield connection
    kill_workspace_processes(connection.workspace_id)


@pytest.fixture
def world(conn, tmp_path):
    """What the escapes aim at: another workspace, the server's data, host files, a host process."""
    other = connect(f"sandbox-{os.getpid()}-b")
    (other.root / "secret.txt").write_text(OTHER_SECRET)
    host_tmp = Path(f"/tmp/sandbox-host-{os.getpid()}.txt")  # noqa: S108 (the host's /tmp is the point)
    host_tmp.write_text("host-tmp-marker-9d1e")
    victim = subprocess.Popen(["sleep", "120"], start_new_session=True)
    database = settings.DATABASES["default"]
    made_database = None
    if database["ENGINE"].endswith("sqlite3") and not Path(database["NAME"]).exists():
        # The suite's database lives in memory; the server's is this file, so make it real.
        made_database = Path(database["NAME"])
        with contextlib.closing(sqlite3.connect(made_database)) as db:
            db.execute("CREATE TABLE probe (secret TEXT)")
    server_environ = Path(f"/proc/{os.getpid()}/environ").read_bytes().split(b"\0")
    workspace_names = {item.split(b"=")[0] for item in server_environ} - {b"PATH", b"HOME", b"CODER_WORKSPACE_ID"}
    values = {
        "home": conn.root,
        "other": other.root,
        "other_name": other.root.name,
        "workspaces": settings.CODER_WORKSPACES_DIR,
        "data": settings.DATA_DIR,
        "secret_key": settings.DATA_DIR / "secret_key",
        "database": database["NAME"] if database["ENGINE"].endswith("sqlite3") else "",
        "server_pid": os.getpid(),
        "server_variable": next(i for i in server_environ if i and i.split(b"=")[0] in workspace_names).decode(),
        "victim_pid": victim.pid,
        "host_tmp": host_tmp,
        "outside": settings.BASE_DIR / f".sandbox-probe-{os.getpid()}",
        "shadow": Path("/etc/shadow").read_text().splitlines()[0] if Path("/etc/shadow").exists() else "",
    }
    yield values
    victim.kill()
    victim.wait()
    host_tmp.unlink(missing_ok=True)
    if made_database:
        made_database.unlink()
    kill_workspace_processes(other.workspace_id)


@dataclass(frozen=True)
class Escape:
    name: str
    command: str
    secret: str = ""  # a {placeholder} whose value must not appear in the output
    untouched: str = ""  # a {placeholder} path that must not exist on the host afterwards


ESCAPES = [
    Escape("read another workspace's file", "cat {other}/secret.txt", secret="OTHER_SECRET"),
    Escape("list the other workspaces", "ls -a {workspaces}", secret="{other_name}"),
    Escape("write into another workspace", "echo pwned > {other}/pwned.txt", untouched="{other}/pwned.txt"),
    Escape("read the secret key", "cat {secret_key}", secret="SECRET_KEY"),
    Escape("read the SQLite database", "head -c 100 {database}; ls {data}", secret="SQLite format 3"),
    Escape("write to /etc", "echo pwned > /etc/sandbox-probe", untouched="/etc/sandbox-probe"),
    Escape("write next to the server's code", "echo pwned > {outside}", untouched="{outside}"),
    Escape("read the host's /tmp", "cat {host_tmp}; ls /tmp", secret="host-tmp-marker-9d1e"),
    Escape("write to the host's /tmp", "echo pwned > /tmp/sandbox-leak-$PPID", untouched="/tmp/sandbox-leak-*"),
    Escape("symlink to the secret key", "ln -s {secret_key} key-link && cat key-link", secret="SECRET_KEY"),
    Escape(
        "symlink into another workspace", "ln -s {other}/secret.txt other-link && cat other-link", secret="OTHER_SECRET"
    ),
    Escape("the server's environment", "cat /proc/{server_pid}/environ", secret="{server_variable}"),
    Escape("every process's environment", "cat /proc/[0-9]*/environ | tr '\\0' '\\n'", secret="{server_variable}"),
    Escape("the server's root through /proc", "cat /proc/{server_pid}/root{secret_key}", secret="SECRET_KEY"),
    Escape("unmount the cover", "umount {data}; umount -l {workspaces}; cat {secret_key}", secret="SECRET_KEY"),
    Escape("read /etc/shadow", "cat /etc/shadow", secret="{shadow}"),
    Escape("kill a host process", "kill -9 {victim_pid}"),
]


def _secret_value(placeholder: str, world: dict) -> str:
    if placeholder == "OTHER_SECRET":
        return OTHER_SECRET
    if placeholder == "SECRET_KEY":
        return settings.SECRET_KEY
    return placeholder.format(**world)


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.name for e in ESCAPES])
def test_escape_is_blocked(conn, world, escape):
    if "{database}" in escape.command and not world["database"]:
        pytest.skip("the database is not a file here (PostgreSQL)")
    result = run(conn.exec(escape.command.format(**world), timeout_s=30))
    secret = _secret_value(escape.secret, world)
    if secret:
        assert secret not in result.output, f"{escape.name}: leaked ({result.output[:300]!r})"
    if escape.untouched:
        assert not list(Path("/").glob(escape.untouched.format(**world).lstrip("/"))), f"{escape.name}: wrote"
    # Every row: the host process and the server's secret key are as they were.
    assert alive(world["victim_pid"]), f"{escape.name}: the host process was killed"
    assert Path(settings.DATA_DIR / "secret_key").read_text().strip() == settings.SECRET_KEY


@pytest.mark.skipif(os.geteuid() != 0, reason="the control reaches /etc and other processes only as root")
@pytest.mark.parametrize("escape", ESCAPES, ids=[e.name for e in ESCAPES])
def test_escape_succeeds_with_the_sandbox_off(settings, world, escape):
    """The control: each row's command really is a way out when nothing stops it, so the
    blocked rows above prove the sandbox and not a broken command."""
    if "{database}" in escape.command and not world["database"]:
        pytest.skip("the database is not a file here (PostgreSQL)")
    settings.CODER_WORKSPACE_SANDBOX = "off"
    bare = connect(f"sandbox-{os.getpid()}-off")
    written = escape.untouched.format(**world).lstrip("/")
    try:
        result = run(bare.exec(escape.command.format(**world), timeout_s=30))
        secret = _secret_value(escape.secret, world)
        if secret:
            assert secret in result.output, f"{escape.name}: got nothing out ({result.output[:300]!r})"
        if escape.untouched:
            assert list(Path("/").glob(written)), f"{escape.name}: wrote nothing"
        if not (secret or escape.untouched):
            assert not alive(world["victim_pid"]), f"{escape.name}: the host process lives"
    finally:
        for path in Path("/").glob(written) if written else ():
            path.unlink()
        kill_workspace_processes(bare.workspace_id)


def test_a_sandboxed_command_works_in_its_workspace(conn):
    result = run(conn.exec("echo made > made.txt; echo kept > /tmp/kept; pwd; id -u; exit 3", timeout_s=30))
    assert result.exit_code == 3 and result.output.split() == [
        str(conn.root),
        "0" if os.getuid() == 0 else str(os.getuid()),
    ]
    assert (conn.root / "made.txt").read_text() == "made\n"
    # The sandbox's /tmp is the workspace's own, kept from one command to the next.
    assert run(conn.exec("cat /tmp/kept", timeout_s=30)).output == "kept\n"
    assert (conn.root / ".coder/tmp/kept").exists()


def test_what_a_sandboxed_command_leaves_running_dies_at_stop(conn):
    result = run(conn.exec("sleep 300 & echo started", timeout_s=30))
    assert result.output == "started\n"
    assert _tagged_pids(conn.workspace_id), "as without the sandbox, the child lives on"
    assert kill_workspace_processes(conn.workspace_id) >= 2  # the sandbox's init and the child
    assert wait_for(lambda: not _tagged_pids(conn.workspace_id))


def test_stop_kills_sandboxed_background_processes(conn):
    result = run(conn.exec("sleep 300", timeout_s=30, background=True))
    assert result.exit_code == 0
    assert wait_for(lambda: len(_tagged_pids(conn.workspace_id)) >= 2)  # bwrap and what runs in it
    assert kill_workspace_processes(conn.workspace_id) >= 2
    assert wait_for(lambda: not _tagged_pids(conn.workspace_id))


@pytest.mark.skipif(pids_cgroup_base() is None, reason="no pids cgroup can be made here (needs root or delegation)")
def test_a_fork_bomb_in_the_sandbox_is_killed(conn):
    result = run(conn.exec(":(){ :|:& };:", timeout_s=10))
    assert PROCESS_LIMIT_NOTE.format(limit=settings.CODER_WORKSPACE_MAX_PROCESSES) in result.output
    assert wait_for(lambda: not _tagged_pids(conn.workspace_id)), "the bomb outlived its command"
    assert run(conn.exec("echo still here", timeout_s=30)).output == "still here\n"


def test_a_timeout_kills_the_whole_sandbox(conn):
    result = run(conn.exec("sleep 300 & sleep 300", timeout_s=1))
    assert result.timed_out
    assert wait_for(lambda: not _tagged_pids(conn.workspace_id))


@pytest.fixture
def host_listener():
    """A TCP service on the host's loopback, like Redis or PostgreSQL."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


PROBE = 'python3 -c \'import socket; socket.create_connection(("127.0.0.1", {port}), timeout=3); print("reached")\''


@pytest.mark.parametrize(("network", "reached"), [("host", True), ("none", False)])
def test_the_network_setting_decides_whether_host_services_are_reachable(
    settings, workspaces_dir, host_listener, network, reached
):
    settings.CODER_WORKSPACE_SANDBOX = "auto"
    settings.CODER_WORKSPACE_NETWORK = network
    connection = connect(f"sandbox-{os.getpid()}-net-{network}")
    result = run(connection.exec(PROBE.format(port=host_listener), timeout_s=30))
    assert (result.output == "reached\n") is reached, result.output
    if not reached:
        assert result.exit_code != 0 and "reached" not in result.output
        # Its own loopback still works: tools that talk to themselves over TCP keep working.
        own = 'python3 -c \'import socket; s = socket.create_server(("127.0.0.1", 0)); print("bound")\''
        assert run(connection.exec(own, timeout_s=30)).output == "bound\n"


def test_network_none_without_bwrap_refuses_to_run(settings, workspaces_dir, monkeypatch):
    settings.CODER_WORKSPACE_SANDBOX = "auto"
    settings.CODER_WORKSPACE_NETWORK = "none"
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Conflict, match="required for the workspace network 'none'"):
        run(connect("sandbox-network-none").exec("true", timeout_s=5))


def test_required_without_bwrap_refuses_to_start_workspaces(member, starter, settings, monkeypatch):
    settings.CODER_WORKSPACE_SANDBOX = "required"
    monkeypatch.setenv("PATH", "/nonexistent")
    [check] = workspace_sandbox(None)
    assert check.id == "coder.W001" and "bwrap is not installed" in check.msg
    workspace_create(actor=member, owner="me", template_version_id=starter.active_version_id, name="dev")
    run_jobs()
    workspace = selectors.workspace_get(actor=member, ref="dev")
    assert workspace.status == "failed"
    assert "The workspace sandbox is required but bwrap is not installed" in workspace.latest_build.job.error
    with pytest.raises(Conflict, match="sandbox is required"):
        run(connect("sandbox-required").exec("true", timeout_s=5))


def test_the_system_check_is_quiet_when_the_sandbox_works(settings):
    settings.CODER_WORKSPACE_SANDBOX = "auto"
    assert workspace_sandbox(None) == []
