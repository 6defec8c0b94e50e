"""The local runtime with real processes: commands, timeouts, output caps, background
processes, files, and paths that try to leave the workspace."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.runtime import MAX_READ_BYTES, TIMEOUT_NOTE, Edit
from workspaces.runtime.host import (
    MAX_COMMAND_BYTES,
    PROCESS_LIMIT_NOTE,
    ProcessPolicy,
    _tagged_pids,
    pids_cgroup_base,
)
from workspaces.runtime.local import LocalAgentConnection, kill_workspace_processes


def make_connection(root: Path, policy: ProcessPolicy | None = None) -> LocalAgentConnection:
    root.mkdir()
    workspace_id = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root),
        "CODER": "true",
        "CODER_WORKSPACE_NAME": "dev",
        "CODER_WORKSPACE_OWNER_NAME": "mike",
        "CODER_WORKSPACE_ID": workspace_id,
    }
    return LocalAgentConnection(root=root, env=env, workspace_id=workspace_id, policy=policy)


@pytest.fixture
def conn(tmp_path) -> LocalAgentConnection:
    connection = make_connection(tmp_path / "home")
    yield connection
    kill_workspace_processes(connection.workspace_id)


@pytest.fixture
def limited(tmp_path) -> LocalAgentConnection:
    """A workspace with small limits: 64 processes, 512 MiB of address space, 1 MiB files."""
    policy = ProcessPolicy(max_processes=64, max_memory_bytes=512 * 1024 * 1024, max_file_bytes=1024 * 1024)
    connection = make_connection(tmp_path / "limited", policy)
    yield connection
    kill_workspace_processes(connection.workspace_id)


def run(coro):
    return asyncio.run(coro)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_command_output_exit_code_and_environment(conn):
    result = run(
        conn.exec(
            'echo "$CODER $CODER_WORKSPACE_NAME $CODER_WORKSPACE_OWNER_NAME $PWD"; echo err >&2; exit 3', timeout_s=10
        )
    )
    assert result.exit_code == 3
    assert f"true dev mike {conn.root}" in result.output
    assert "err" in result.output  # stderr is combined
    assert not result.timed_out and not result.truncated


def test_server_secrets_are_not_in_the_environment(conn, monkeypatch):
    monkeypatch.setenv("CODER_SECRET_KEY", "do-not-leak")
    result = run(conn.exec("env", timeout_s=10))
    assert "do-not-leak" not in result.output and "CODER_WORKSPACE_NAME=dev" in result.output


def test_timeout_returns_124_and_kills_the_process_group(conn):
    pid_file = conn.root / "child.pid"
    started = time.monotonic()
    result = run(conn.exec(f"sleep 60 & echo $! > {pid_file}; echo before; wait", timeout_s=1))
    assert time.monotonic() - started < 10
    assert result.exit_code == 124 and result.timed_out
    assert "before" in result.output and result.output.endswith(TIMEOUT_NOTE)
    child = int(pid_file.read_text())
    assert wait_until(lambda: not alive(child)), "the background child of a timed-out command survived"


def test_output_beyond_the_cap_is_truncated_with_a_note(conn):
    result = run(conn.exec("head -c 100000 /dev/zero | tr '\\0' x", timeout_s=10, output_limit=1000))
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("x" * 1000)
    assert "[output truncated: 100000 bytes, showing the first 1000]" in result.output


def test_streamed_output_reaches_the_callback(conn):
    chunks: list[str] = []

    async def on_output(text: str) -> None:
        chunks.append(text)

    result = run(conn.exec("echo one; echo two", timeout_s=10, on_output=on_output))
    assert "".join(chunks) == result.output == "one\ntwo\n"


def test_cancelling_the_caller_kills_the_command(conn):
    pid_file = conn.root / "pid"

    async def cancel_soon():
        task = asyncio.create_task(conn.exec(f"echo $$ > {pid_file}; sleep 60", timeout_s=60))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_soon())
    assert wait_until(lambda: not alive(int(pid_file.read_text())))


def test_background_command_survives_the_call_and_dies_at_stop(conn):
    result = run(conn.exec(f"echo $$ > {conn.root}/bg.pid; exec sleep 300", timeout_s=5, background=True))
    assert result.exit_code == 0 and "background" in result.output
    pid_file = conn.root / "bg.pid"
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    assert alive(pid)
    assert kill_workspace_processes(conn.workspace_id) >= 1
    assert wait_until(lambda: not alive(pid))


def test_command_that_leaves_a_child_holding_the_pipe_returns(conn):
    started = time.monotonic()
    result = run(conn.exec("sleep 30 & echo done", timeout_s=20))
    assert result.exit_code == 0 and "done" in result.output
    assert time.monotonic() - started < 10


def test_write_read_ls_and_edit(conn):
    run(conn.write("src/app/main.py", b"print('hello')\nprint('hello')\n"))
    assert run(conn.read(str(conn.root / "src/app/main.py"))) == b"print('hello')\nprint('hello')\n"
    assert run(conn.read("src/app/main.py", offset=6, limit=7)) == b"'hello'"
    entries = run(conn.ls("src"))
    assert [(e.path, e.is_dir) for e in entries] == [(str(conn.root / "src/app"), True)]
    result = run(conn.edit("src/app/main.py", [Edit(search="hello", replace="bye", replace_all=True)]))
    assert result.replacements == 2
    assert run(conn.read("~/src/app/main.py")) == b"print('bye')\nprint('bye')\n"
    with pytest.raises(InvalidInput) as ambiguous:
        run(conn.edit("src/app/main.py", [Edit(search="bye", replace="x")]))
    assert ambiguous.value.field == "edits[0].search" and "2 times" in ambiguous.value.message
    with pytest.raises(InvalidInput) as missing:
        run(
            conn.edit(
                "src/app/main.py", [Edit(search="print('bye')\nprint", replace="x"), Edit(search="nope", replace="")]
            )
        )
    assert missing.value.field == "edits[1].search"
    assert run(conn.read("src/app/main.py")) == b"print('bye')\nprint('bye')\n"  # nothing written on failure


def test_read_is_capped_at_one_mebibyte(conn):
    run(conn.write("big.bin", b"a" * (MAX_READ_BYTES + 10)))
    assert len(run(conn.read("big.bin", limit=10 * MAX_READ_BYTES))) == MAX_READ_BYTES
    assert run(conn.read("big.bin", offset=MAX_READ_BYTES)) == b"a" * 10


def test_missing_files_are_not_found(conn):
    with pytest.raises(NotFound):
        run(conn.read("nope.txt"))
    with pytest.raises(NotFound):
        run(conn.ls("nope"))


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "/tmp/outside.txt", "bad\0name", ""],
)
def test_paths_cannot_escape_the_workspace(conn, path):
    with pytest.raises(InvalidInput) as refused:
        run(conn.write(path, b"x"))
    assert refused.value.field == "path"
    with pytest.raises(InvalidInput):
        run(conn.read(path))


def test_symlinks_that_escape_are_refused(conn, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (conn.root / "link").symlink_to(outside)
    (conn.root / "file-link").symlink_to(outside / "secret.txt")
    for path in ("link/secret.txt", "file-link", "link/new.txt"):
        with pytest.raises(InvalidInput):
            run(conn.read(path))
        with pytest.raises(InvalidInput):
            run(conn.write(path, b"overwritten"))
    assert (outside / "secret.txt").read_text() == "secret" and not (outside / "new.txt").exists()
    inside = conn.root / "inside-link"
    inside.symlink_to(conn.root / "target.txt")
    run(conn.write("inside-link", b"ok"))
    assert (conn.root / "target.txt").read_bytes() == b"ok"


def test_commands_in_a_removed_workspace_are_a_conflict(conn):
    conn.root.rmdir()
    with pytest.raises(Conflict, match="is gone"):
        run(conn.exec("true", timeout_s=5))


# ---------------------------------------------------------------------------
# Limits (ProcessPolicy) and input limits
# ---------------------------------------------------------------------------


def test_the_policy_travels_as_json():
    policy = ProcessPolicy(
        max_processes=10, max_memory_bytes=2**30, sandbox="required", hidden_paths=("/srv",), network="none"
    )
    assert ProcessPolicy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
    assert ProcessPolicy.from_json(None) == ProcessPolicy()
    with pytest.raises(ValueError, match="sandbox must be one of"):
        ProcessPolicy.from_json({"sandbox": "maybe"})
    with pytest.raises(ValueError, match="network none needs the sandbox"):
        ProcessPolicy(sandbox="off", network="none")


@pytest.mark.skipif(pids_cgroup_base() is None, reason="no pids cgroup can be made here (needs root or delegation)")
def test_a_fork_bomb_is_contained_and_killed(limited):
    """As root RLIMIT_NPROC binds nothing: the workspace's pids cgroup holds the bomb at its
    limit, and the command that hit the limit has its processes killed."""
    started = time.monotonic()
    result = run(limited.exec(":(){ :|:& };:", timeout_s=5))
    assert time.monotonic() - started < 15
    assert PROCESS_LIMIT_NOTE.format(limit=64) in result.output
    assert wait_until(lambda: not _tagged_pids(limited.workspace_id)), "the bomb outlived its command"
    assert run(limited.exec("echo still here", timeout_s=10)).output == "still here\n"


def test_memory_beyond_the_limit_fails_in_the_process(limited):
    result = run(limited.exec("python3 -c 'bytearray(2 * 1024**3)'", timeout_s=30))
    assert result.exit_code == 1 and "MemoryError" in result.output
    assert run(limited.exec("python3 -c 'print(len(bytearray(100 * 1024**2)))'", timeout_s=30)).exit_code == 0


def test_files_beyond_the_limit_are_cut(limited):
    result = run(limited.exec("head -c 2000000 /dev/zero > big; echo $?", timeout_s=10))
    assert result.output.strip().endswith("153")  # 128 + SIGXFSZ
    assert (limited.root / "big").stat().st_size == 1024 * 1024


def test_a_command_over_the_limit_is_refused(conn):
    with pytest.raises(InvalidInput, match=f"limit is {MAX_COMMAND_BYTES}") as refused:
        run(conn.exec("echo " + "x" * MAX_COMMAND_BYTES, timeout_s=5))
    assert refused.value.field == "command"
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        run(conn.exec("echo \ud800", timeout_s=5))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a/" * 2500, "limit is 4096"),
        ("n" * 300, "limit is 255"),
        ("d/" + "é" * 128, "limit is 255"),  # 256 bytes in UTF-8
        ("bad\ud800", "not valid Unicode"),
    ],
    ids=["5000-byte path", "300-byte name", "256-byte UTF-8 name", "lone surrogate"],
)
def test_overlong_and_malformed_paths_are_refused(conn, path, message):
    for operation in (conn.write(path, b"x"), conn.read(path), conn.ls(path)):
        with pytest.raises(InvalidInput, match=message) as refused:
            run(operation)
        assert refused.value.field == "path"


def test_file_system_errors_are_domain_errors(conn):
    (conn.root / "file.txt").write_text("x")
    with pytest.raises(InvalidInput, match="Not a directory|File exists") as not_a_directory:
        run(conn.write("file.txt/inner.txt", b"x"))
    assert not_a_directory.value.field == "path"
    (conn.root / "a").symlink_to(conn.root / "b")
    (conn.root / "b").symlink_to(conn.root / "a")
    with pytest.raises(InvalidInput, match="cannot be resolved"):
        run(conn.read("a"))
