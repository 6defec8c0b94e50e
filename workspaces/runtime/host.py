"""Running commands and touching files on this host, inside one workspace directory.

Standard library only (plus ``workspaces.errors`` and the runtime's dataclasses), because
two programs run it: the server's embedded ``local`` runtime and the standalone workspace
agent (``python -m workspaces.agent``) on whatever host the workspace lives.

Every process runs in its own process group (so a timeout kills all of it) with the
workspace directory as cwd, and an environment tagged with ``CODER_WORKSPACE_ID``: stopping
a workspace kills every process carrying the tag, wherever it was started from.

A ``ProcessPolicy`` (built from the server's settings, sent to remote agents in their
manifest) limits those processes: ``setrlimit`` for memory, file size and processes per
user, and, because ``RLIMIT_NPROC`` does not bind root, a pids cgroup per workspace
wherever this process may create one (cgroup v1's ``pids`` hierarchy, or a v2 tree with
the ``pids`` controller).

With the policy's ``sandbox`` on and bubblewrap (``bwrap``) usable here, each command runs
in a sandbox: the host file system read-only, the workspace directory the only writable
place (its ``.coder/tmp`` is the sandbox's ``/tmp``), the policy's hidden paths (other
workspaces, the server's data) covered by empty directories, fresh user, PID, IPC and UTS
namespaces and no capabilities. As without the sandbox, what a command leaves running lives
on until the workspace stops (bwrap's init keeps the PID namespace while it has children).
The network is the host's, unless the policy's ``network`` is ``none``.
"""

import asyncio
import codecs
import contextlib
import errno
import functools
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# Beyond these a command or path is refused with a clear error instead of failing in exec()
# (one argument may not exceed 128 KiB) or deep in the file system.
MAX_COMMAND_BYTES = 100_000
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
SANDBOX_MODES = ("auto", "required", "off")
NETWORK_MODES = ("host", "none")
# The sandbox around every command: read-only host, fresh /dev and /proc, own namespaces
# (the user namespace makes RLIMIT_NPROC bind even root), no capabilities.
BWRAP_FLAGS = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--cap-drop", "ALL",
)  # fmt: skip
PROCESS_LIMIT_NOTE = "[the command reached the workspace's process limit ({limit}); its processes were killed]"


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessPolicy:
    """What every process of a workspace may use. ``None`` means no limit.

    ``max_processes`` binds per workspace through a pids cgroup when one can be made here,
    and per user through ``RLIMIT_NPROC`` (which the kernel does not apply to root);
    ``max_memory_bytes`` is each process's address space (``RLIMIT_AS``), ``max_file_bytes``
    the largest file a process may write (``RLIMIT_FSIZE``). ``sandbox`` is ``auto`` (bwrap
    when it works here), ``required`` (run nothing without it) or ``off``; ``hidden_paths``
    are covered in the sandbox (the server's data: only the server knows where it is).
    ``network`` ``none`` gives each command a network namespace of its own with only
    loopback, so it cannot reach the host's services (Redis, PostgreSQL, the server); it
    needs the sandbox, so it makes the sandbox required.
    """

    max_processes: int | None = None
    max_memory_bytes: int | None = None
    max_file_bytes: int | None = None
    sandbox: str = "off"
    hidden_paths: tuple[str, ...] = ()
    network: str = "host"

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOX_MODES:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, not {self.sandbox!r}")
        if self.network not in NETWORK_MODES:
            raise ValueError(f"network must be one of {', '.join(NETWORK_MODES)}, not {self.network!r}")
        if self.network == "none" and self.sandbox == "off":
            raise ValueError("network none needs the sandbox; it cannot be off")

    def to_json(self) -> dict[str, Any]:
        return {
            "max_processes": self.max_processes,
            "max_memory_bytes": self.max_memory_bytes,
            "max_file_bytes": self.max_file_bytes,
            "sandbox": self.sandbox,
            "hidden_paths": list(self.hidden_paths),
            "network": self.network,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "ProcessPolicy":
        data = data or {}

        def limit(name: str) -> int | None:
            value = data.get(name)
            return None if value is None else int(value)

        return cls(
            max_processes=limit("max_processes"),
            max_memory_bytes=limit("max_memory_bytes"),
            max_file_bytes=limit("max_file_bytes"),
            sandbox=data.get("sandbox", "off"),
            hidden_paths=tuple(data.get("hidden_paths", ())),
            network=data.get("network", "host"),
        )

    def rlimits(self) -> list[tuple[int, int]]:
        pairs = [
            (resource.RLIMIT_NPROC, self.max_processes),
            (resource.RLIMIT_AS, self.max_memory_bytes),
            (resource.RLIMIT_FSIZE, self.max_file_bytes),
        ]
        return [(kind, value) for kind, value in pairs if value is not None]


@functools.cache
def _bwrap_problem(bwrap: str) -> str:
    """Why ``bwrap`` cannot make our sandbox on this host ("" when it can); tried once."""
    try:
        probe = subprocess.run(
            [bwrap, *BWRAP_FLAGS, "--", "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{bwrap} does not run ({error})"
    if probe.returncode != 0:
        return f"{bwrap} cannot make a sandbox here ({probe.stderr.decode(errors='replace').strip()})"
    return ""


def find_sandbox() -> tuple[str | None, str]:
    """The ``bwrap`` to sandbox commands with, or None and the reason there is none."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap is not installed (Debian's bubblewrap package)"
    problem = _bwrap_problem(bwrap)
    return (None, problem) if problem else (bwrap, "")


def _cgroup_mounts() -> Iterator[tuple[str, str, str]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] in ("cgroup", "cgroup2"):
                yield fields[4], fields[separator + 1], fields[separator + 3]


@functools.cache
def pids_cgroup_base() -> Path | None:
    """The directory under which this process can make one pids cgroup per workspace; None
    when there is none (no permission, no pids controller). Checked once per process."""
    try:
        own = {}
        with open("/proc/self/cgroup") as cgroups:
            for line in cgroups:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                own[controllers] = path.lstrip("/")
        candidates = []
        for mount, kind, options in _cgroup_mounts():
            if kind == "cgroup" and "pids" in options.split(","):
                key = next((c for c in own if "pids" in c.split(",")), None)
                if key is not None:
                    candidates.append((Path(mount) / own[key], False))
            elif kind == "cgroup2" and "" in own:
                candidates.append((Path(mount) / own[""], True))
        for parent, unified in candidates:
            base = parent / "coder-workspaces"
            with contextlib.suppress(OSError):
                if unified:  # v2: the controller must be handed down to our children and theirs
                    (parent / "cgroup.subtree_control").write_text("+pids")
                base.mkdir(exist_ok=True)
                if unified:
                    (base / "cgroup.subtree_control").write_text("+pids")
                probe = base / f"probe-{os.getpid()}"
                probe.mkdir(exist_ok=True)
                usable = (probe / "pids.max").exists()
                probe.rmdir()
                if usable:
                    return base
    except (OSError, ValueError):
        return None
    return None


def _workspace_cgroup(workspace_id: str, max_processes: int | None) -> Path | None:
    """The workspace's pids cgroup with its limit set, made on first use; None without one."""
    base = pids_cgroup_base()
    if base is None or max_processes is None:
        return None
    group = base / workspace_id
    try:
        group.mkdir(exist_ok=True)
        (group / "pids.max").write_text(str(max_processes))
    except OSError:
        return None
    return group


def _limits_in_child(rlimits: list[tuple[int, int]], cgroup_procs: str | None) -> Callable[[], None] | None:
    """What the child runs between fork and exec: join the workspace's cgroup, lower its
    limits. Only async-signal-tolerant calls, as other threads may hold locks at fork."""
    if not rlimits and cgroup_procs is None:
        return None

    def apply() -> None:
        if cgroup_procs is not None:
            fd = os.open(cgroup_procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for kind, value in rlimits:
            _, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    return apply


def _limit_hits(group: Path | None) -> int:
    """How often the cgroup refused a fork because of its limit."""
    if group is None:
        return 0
    try:
        for line in (group / "pids.events").read_text().splitlines():
            name, _, count = line.partition(" ")
            if name == "max":
                return int(count)
    except (OSError, ValueError):
        pass
    return 0


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


def _cgroup_pids(workspace_id: str) -> list[int]:
    base = pids_cgroup_base()
    if base is None:
        return []
    try:
        return [int(pid) for pid in (base / workspace_id / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kill_workspace_processes(workspace_id: uuid.UUID | str, *, timeout_s: float = 10) -> int:
    """Kill every process of the workspace (and their process groups); returns how many.

    Processes are found by their environment tag and, where there is one, in the
    workspace's cgroup (which also holds those that cleared their environment).
    """
    workspace_id = str(workspace_id)
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = {*_tagged_pids(workspace_id), *_cgroup_pids(workspace_id)} - {os.getpid()}
        pids = [pid for pid in found if pid not in killed]
        if not pids:
            break
        for pid in pids:
            try:
                _kill_group(os.getpgid(pid))
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            killed.add(pid)
    base = pids_cgroup_base()
    if base is not None:
        with contextlib.suppress(OSError):  # busy while the last ones die: the next stop removes it
            (base / workspace_id).rmdir()
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


def _with_note(text: str, note: str) -> str:
    """The output with a note of ours on a line of its own after it."""
    return (text + "\n" if text and not text.endswith("\n") else text) + note


def _encoded(text: str, field: str) -> bytes:
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:
        raise InvalidInput(f"The {field} is not valid Unicode (a lone surrogate).", field=field) from None


# What the file system says, as errors a caller can act on (never a traceback).
_PATH_ERRORS = {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EINVAL, errno.EEXIST}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ETXTBSY}
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _os_errors(operation: Callable) -> Callable:
    """Turn an ``OSError`` of a file operation on ``path`` (its second argument) into a domain error."""

    @functools.wraps(operation)
    def run(*args: Any) -> Any:
        try:
            return operation(*args)
        except OSError as error:
            path = next(arg for arg in args if isinstance(arg, str))
            reason = error.strerror or str(error)
            if error.errno == errno.ENOENT:
                raise NotFound(f"{path}: {reason}.", field="path") from None
            if error.errno in _PATH_ERRORS:
                raise InvalidInput(f"{path}: {reason}.", field="path") from None
            if error.errno in _DENIED:
                raise Conflict(
                    f"{path}: {reason}.",
                    field="path",
                    detail="Change its permissions with a command, or use another path.",
                ) from None
            if error.errno in _FULL:
                raise Conflict(
                    f"{path}: {reason}.", field="path", detail="Free space in the workspace, then retry."
                ) from None
            raise Conflict(f"{path}: {reason}.", field="path") from None

    return run


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class LocalAgentConnection(AgentConnection):
    def __init__(
        self, *, root: Path, env: dict[str, str], workspace_id: str, policy: ProcessPolicy | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.directory = str(self.root)
        self.env = env
        self.workspace_id = workspace_id
        self.policy = policy or ProcessPolicy()

    def _cgroup(self) -> Path | None:
        return _workspace_cgroup(self.workspace_id, self.policy.max_processes)

    def sandbox_problem(self) -> str | None:
        """Why this workspace may run nothing: its policy requires the sandbox and there is none."""
        if self.policy.sandbox != "required" and self.policy.network != "none":
            return None
        bwrap, reason = find_sandbox()
        why = "required" if self.policy.sandbox == "required" else "required for the workspace network 'none'"
        return None if bwrap else f"The workspace sandbox is {why} but {reason}."

    def _argv(self, command: str) -> list[str]:
        """The shell running ``command``, inside the sandbox when the policy wants one."""
        shell = [SHELL, "-c", command]
        if self.policy.sandbox == "off":
            return shell
        bwrap, _ = find_sandbox()
        if bwrap is None:
            if problem := self.sandbox_problem():
                raise Conflict(
                    problem, detail="Install bubblewrap on the workspace's host, or turn the requirement off."
                )
            return shell  # auto: run without
        tmp = self.root / ".coder" / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        flags = [bwrap, *BWRAP_FLAGS, "--bind", str(tmp), "/tmp"]  # noqa: S108 (the sandbox's own /tmp)
        if self.policy.network == "none":
            flags.append("--unshare-net")
        for path in sorted(self.policy.hidden_paths, key=lambda path: len(Path(path).parts)):
            if os.path.isdir(path):
                flags += ["--tmpfs", path]
            elif os.path.lexists(path):
                flags += ["--ro-bind", "/dev/null", path]
        return [*flags, "--bind", self.directory, self.directory, "--chdir", self.directory, "--", *shell]

    def _spawn(self, command: str, *, stdout: Any, group: Path | None) -> subprocess.Popen:
        """Start ``command`` in the workspace's cgroup (if any) under the policy's limits."""
        argv = self._argv(command)
        limits = _limits_in_child(self.policy.rlimits(), None if group is None else str(group / "cgroup.procs"))
        return subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=limits,  # noqa: PLW1509 (only setrlimit and a cgroup write, see _limits_in_child)
        )

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
        size = len(_encoded(command, "command"))
        if size > MAX_COMMAND_BYTES:
            raise InvalidInput(
                f"The command is {size} bytes; the limit is {MAX_COMMAND_BYTES}. "
                "Write a long script to a file and run the file.",
                field="command",
            )
        if timeout_s <= 0:
            raise InvalidInput("The timeout must be positive.", field="timeout_ms")
        if not self.root.is_dir():
            raise Conflict(f"The workspace directory {self.root} is gone; start the workspace again.")
        if background:
            return self._exec_background(command)
        group = self._cgroup()
        hits = _limit_hits(group)
        process = self._spawn(command, stdout=subprocess.PIPE, group=group)
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
        if _limit_hits(group) > hits:  # a fork bomb, or a runaway build: what it left must not run on
            _kill_group(process.pid)
            text = _with_note(text, PROCESS_LIMIT_NOTE.format(limit=self.policy.max_processes))
        if timed_out:
            return ExecResult(
                output=_with_note(text, TIMEOUT_NOTE),
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
            process = self._spawn(command, stdout=log, group=self._cgroup())
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
        encoded = _encoded(path, "path")
        if len(encoded) > MAX_PATH_BYTES:
            raise InvalidInput(f"The path is {len(encoded)} bytes; the limit is {MAX_PATH_BYTES}.", field="path")
        longest = max(len(part) for part in encoded.split(b"/"))
        if longest > MAX_NAME_BYTES:
            raise InvalidInput(f"A name in the path is {longest} bytes; the limit is {MAX_NAME_BYTES}.", field="path")
        if path == "~" or path.startswith("~/"):
            path = str(self.root) + path[1:]
        if ".." in Path(path).parts:
            raise InvalidInput(f"{path}: '..' is not allowed; give a path inside {self.root}.", field="path")
        try:
            resolved = (self.root / path).resolve()  # an absolute path replaces the root
        except (RuntimeError, OSError) as error:  # a symlink loop
            raise InvalidInput(f"{path} cannot be resolved: {error}", field="path") from None
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidInput(f"{path} is outside the workspace directory {self.root}.", field="path")
        return resolved

    async def ls(self, path: str) -> list[Entry]:
        target = self.resolve(path)
        return await asyncio.to_thread(self._ls, target, path)

    @staticmethod
    @_os_errors
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
    @_os_errors
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

    @_os_errors
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
