"""Small helpers for tests that start real processes."""

import os
import re
import socket
import subprocess
import time
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


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    """Read the process's output until a line matches; everything read so far is returned."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if re.search(pattern, line):
            return "".join(lines)
    raise AssertionError(f"no line matching {pattern!r}; got: {''.join(lines)}")
