"""The local runtime with real processes: commands, timeouts, output caps, background
processes, files, and paths that try to leave the workspace."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.runtime import MAX_READ_BYTES, TIMEOUT_NOTE, Edit
from workspaces.runtime.local import LocalAgentConnection, kill_workspace_processes


@pytest.fixture
def conn(tmp_path) -> LocalAgentConnection:
    root = tmp_path / "home"
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
    connection = LocalAgentConnection(root=root, env=env, workspace_id=workspace_id)
    yield connection
    kill_workspace_processes(workspace_id)


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
