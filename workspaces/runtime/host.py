"""Running commands and touching files on this host, inside one workspace directory.

Standard library only (plus ``workspaces.errors`` and the runtime's dataclasses), because
two programs run it: the server's embedded ``local`` runtime and the standalone workspace
agent (``python -m workspaces.agent``) on whatever host the workspace lives.

Every process runs in its own process group (so a timeout kills all of it) with the
workspace directory as cwd, and an environment tagged with ``CODER_WORKSPACE_ID``: stopping
a workspace kills every process carrying the tag, wherever it was started from.
"""

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.runtime import (
    DEFAULT_OUTPUT_LIMIT,
    MAX_READ_BYTES,
    TIMEOUT_EXIT_CODE,
    TIMEOUT_NOTE,
    AgentConnection,
    Edit,
    EditResult,
    Entry,
    ExecResult,
    OutputCallback,
)

SHELL = shutil.which("bash") or "/bin/sh"
DRAIN_GRACE_S = 0.5


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def _kill_group(pgid: int) -> None:
    if pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tagged_pids(workspace_id: str) -> list[int]:
    tag = f"CODER_WORKSPACE_ID={workspace_id}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if tag in environ.read().split(b"\0"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_workspace_processes(workspace_id: uuid.UUID | str, *, timeout_s: float = 10) -> int:
    """Kill every process of the workspace (and their process groups); returns how many."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [pid for pid in _tagged_pids(str(workspace_id)) if pid not in killed]
        if not pids:
            break
        for pid in pids:
            try:
                _kill_group(os.getpgid(pid))
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            killed.add(pid)
    return len(killed)


class _Output:
    """Collects combined output up to a byte cap; later bytes are counted and dropped."""

    def __init__(self, limit: int, on_output: OutputCallback | None) -> None:
        self.limit = limit
        self.on_output = on_output
        self.kept = bytearray()
        self.total = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def read_from(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self.total += len(chunk)
            room = self.limit - len(self.kept)
            if room > 0:
                kept = chunk[:room]
                self.kept += kept
                if self.on_output is not None:
                    text = self.decoder.decode(kept)
                    if text:
                        await self.on_output(text)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.truncated:
            text += f"\n[output truncated: {self.total} bytes, showing the first {len(self.kept)}]"
        return text


async def _wait_exit(process: subprocess.Popen) -> int:
    """Wait for the process itself to exit (not for its output pipe to close)."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd: poll
        while process.poll() is None:
            await asyncio.sleep(0.01)
        return process.returncode
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class LocalAgentConnection(AgentConnection):
    def __init__(self, *, root: Path, env: dict[str, str], workspace_id: str) -> None:
        self.root = Path(root).resolve()
        self.directory = str(self.root)
        self.env = env
        self.workspace_id = workspace_id

    async def exec(
        self,
        command: str,
        *,
        timeout_s: float,
        background: bool = False,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        on_output: OutputCallback | None = None,
    ) -> ExecResult:
        if not isinstance(command, str) or not command.strip():
            raise InvalidInput("A command is required.", field="command")
        if "\0" in command:
            raise InvalidInput("The command contains a NUL byte.", field="command")
        if timeout_s <= 0:
            raise InvalidInput("The timeout must be positive.", field="timeout_ms")
        if not self.root.is_dir():
            raise Conflict(f"The workspace directory {self.root} is gone; start the workspace again.")
        if background:
            return self._exec_background(command)
        process = subprocess.Popen(
            [SHELL, "-c", command],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output = _Output(output_limit, on_output)
        stream = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), process.stdout
        )
        reader = asyncio.create_task(output.read_from(stream))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(_wait_exit(process), timeout_s)
            except TimeoutError:
                timed_out = True
                _kill_group(process.pid)
            # What is left in the pipe comes at once; a background child holding it is not waited for.
            try:
                await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE_S)
            except TimeoutError:
                reader.cancel()
        finally:
            if process.poll() is None:  # timed out, or the caller gave up (cancelled): take the group down
                _kill_group(process.pid)
                process.wait()
            if not reader.done():
                reader.cancel()
            transport.close()
        text = output.text()
        if timed_out:
            return ExecResult(
                output=(text + "\n" if text and not text.endswith("\n") else text) + TIMEOUT_NOTE,
                exit_code=TIMEOUT_EXIT_CODE,
                truncated=output.truncated,
                timed_out=True,
            )
        return ExecResult(output=text, exit_code=_exit_code(process.returncode), truncated=output.truncated)

    def _exec_background(self, command: str) -> ExecResult:
        logs = self.root / ".coder" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"background-{time.time_ns()}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [SHELL, "-c", command],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
        return ExecResult(
            output=f"Started in the background (PID {process.pid}); output goes to {log_path}", exit_code=0
        )

    # -- files ---------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The real path inside the workspace; refuses ``..``, outside paths and escaping symlinks."""
        if not isinstance(path, str) or not path:
            raise InvalidInput("A path is required.", field="path")
        if "\0" in path:
            raise InvalidInput("The path contains a NUL byte.", field="path")
        if path == "~" or path.startswith("~/"):
            path = str(self.root) + path[1:]
        if ".." in Path(path).parts:
            raise InvalidInput(f"{path}: '..' is not allowed; give a path inside {self.root}.", field="path")
        resolved = (self.root / path).resolve()  # an absolute path replaces the root
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidInput(f"{path} is outside the workspace directory {self.root}.", field="path")
        return resolved

    async def ls(self, path: str) -> list[Entry]:
        target = self.resolve(path)
        return await asyncio.to_thread(self._ls, target, path)

    @staticmethod
    def _ls(target: Path, path: str) -> list[Entry]:
        if not target.exists():
            raise NotFound(f"{path}: no such directory.", field="path")
        if not target.is_dir():
            raise InvalidInput(f"{path} is not a directory.", field="path")
        with os.scandir(target) as entries:
            return sorted(
                (Entry(path=str(target / e.name), is_dir=e.is_dir(follow_symlinks=False)) for e in entries),
                key=lambda entry: entry.path,
            )

    async def read(self, path: str, *, offset: int = 0, limit: int = MAX_READ_BYTES) -> bytes:
        if offset < 0:
            raise InvalidInput("Must not be negative.", field="offset")
        if limit <= 0:
            raise InvalidInput("Must be positive.", field="limit")
        target = self.resolve(path)
        return await asyncio.to_thread(self._read, target, path, offset, min(limit, MAX_READ_BYTES))

    @staticmethod
    def _read(target: Path, path: str, offset: int, limit: int) -> bytes:
        if not target.exists():
            raise NotFound(f"{path}: no such file.", field="path")
        if not target.is_file():
            raise InvalidInput(f"{path} is not a regular file.", field="path")
        with open(target, "rb") as file:
            file.seek(offset)
            return file.read(limit)

    async def write(self, path: str, data: bytes) -> None:
        target = self.resolve(path)
        await asyncio.to_thread(self._write, target, path, data)

    def _write(self, target: Path, path: str, data: bytes) -> None:
        if target.is_dir():
            raise InvalidInput(f"{path} is a directory.", field="path")
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.root not in target.parent.resolve().parents and target.parent.resolve() != self.root:
            raise InvalidInput(f"{path} is outside the workspace directory {self.root}.", field="path")
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def edit(self, path: str, edits: list[Edit]) -> EditResult:
        target = self.resolve(path)
        original = await asyncio.to_thread(self._read, target, path, 0, 16 * MAX_READ_BYTES)
        try:
            text = original.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path} is not UTF-8 text.", field="path") from None
        if not edits:
            raise InvalidInput("Give at least one edit.", field="edits")
        replacements = 0
        for index, edit in enumerate(edits):
            if not edit.search:
                raise InvalidInput("The search text is empty.", field=f"edits[{index}].search")
            count = text.count(edit.search)
            if count == 0:
                raise InvalidInput(
                    f"edits[{index}]: the search text was not found in {path}.", field=f"edits[{index}].search"
                )
            if count > 1 and not edit.replace_all:
                raise InvalidInput(
                    f"edits[{index}]: the search text matches {count} times in {path}; "
                    "include more context to make it unique or set replace_all.",
                    field=f"edits[{index}].search",
                )
            text = text.replace(edit.search, edit.replace)
            replacements += count
        await asyncio.to_thread(self._write, target, path, text.encode("utf-8"))
        return EditResult(path=str(target), replacements=replacements)
