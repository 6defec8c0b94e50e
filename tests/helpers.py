"""Small helpers for tests that start real processes."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any deployment variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _OutputWatcher:
    """Reads a process's output on a thread so waiting on it can honour a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.cursor = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()


_watchers: "weakref.WeakKeyDictionary[subprocess.Popen, _OutputWatcher]" = weakref.WeakKeyDictionary()


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    """Wait for an output line matching ``pattern``; returns the lines read since the last call.

    The process must have been started with ``stdout=PIPE, text=True``.
    """
    watcher = _watchers.get(process) or _watchers.setdefault(process, _OutputWatcher(process))
    deadline = time.monotonic() + timeout
    with watcher.changed:
        while True:
            for index in range(watcher.cursor, len(watcher.lines)):
                if re.search(pattern, watcher.lines[index]):
                    found = "".join(watcher.lines[watcher.cursor : index + 1])
                    watcher.cursor = index + 1
                    return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not watcher.changed.wait(min(remaining, 0.5)) and process.poll() is not None:
                break  # no new output and the process is gone
    raise AssertionError(f"no line matching {pattern!r}; got: {''.join(watcher.lines[watcher.cursor :])}")


def read_output(process: subprocess.Popen) -> str:
    """Everything the process printed that ``wait_for_line`` has not returned yet."""
    watcher = _watchers.get(process)
    if watcher is None:
        return process.stdout.read()
    with watcher.changed:
        rest = "".join(watcher.lines[watcher.cursor :])
        watcher.cursor = len(watcher.lines)
    return rest


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread, for what a test stands in for
    outside the machine (a client's callback listener, a remote document); yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def start_server(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """``manage.py server ARGS`` as a child process whose output ``wait_for_line`` reads."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "server", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def agent_pids(marker: str) -> list[int]:
    """Workspace agent processes whose command line mentions ``marker`` (a test's own directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        mentioned = any(marker.encode() in part for part in cmdline)
        if b"workspaces.agent" in cmdline and mentioned and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def kill_agents(marker: str) -> None:
    """Agents outlive a stopped server on purpose (to reconnect to the next); a test's must not."""
    for pid in agent_pids(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
