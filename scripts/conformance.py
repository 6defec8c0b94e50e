"""Run the official MCP conformance suite against the fixture toolset on our real stack.

``make conformance`` installs Node 22 and the suite under ``.tools/`` (nothing global),
then runs this: a ``manage.py server`` on a free loopback port with
``CODER_MCP_CONFORMANCE_FIXTURE=1`` and a throw-away data directory, and
``conformance server --url .../api/experimental/mcp/conformance --requirements 2025-11-25``.
The suite's exit status is ours.
"""

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".tools" / "node_modules" / ".bin"
REQUIREMENTS = os.environ.get("CONFORMANCE_REQUIREMENTS", "2025-11-25")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(port: int, **env_vars: str) -> Iterator[subprocess.Popen]:
    """A ``manage.py server`` on ``127.0.0.1:port`` with a throw-away data directory and
    ``env_vars`` (no other ``CODER_*`` variables), stopped on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env.update(CODER_DATA_DIR=tempfile.mkdtemp(prefix="coder-conformance-"), **env_vars)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "server", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if re.search(r"Listening on", line):
                break
            if not line and server.poll() is not None:
                raise SystemExit("the server exited before listening")
        threading.Thread(target=server.stdout.read, daemon=True).start()  # keep its output drained
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)  # an idle AnyIO worker thread can hold exit for up to 10 s
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    port = free_port()
    with running_server(port, CODER_MCP_CONFORMANCE_FIXTURE="1"):
        url = f"http://127.0.0.1:{port}/api/experimental/mcp/conformance"
        out_dir = ROOT / ".tools" / "conformance-results"
        suite_env = {**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"}
        command = [str(TOOLS_BIN / "conformance"), "server", "--url", url, "--requirements", REQUIREMENTS]
        return subprocess.run([*command, "-o", str(out_dir)], env=suite_env).returncode


if __name__ == "__main__":
    sys.exit(main())
