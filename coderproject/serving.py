"""Serving the ASGI application with Daphne: one process, or a supervised group of workers.

Daphne has no ``--workers``; several processes accept from one listening socket that the
supervisor opens and hands down (the kernel spreads connections between them). A worker
that dies is restarted; SIGTERM stops accepting and lets in-flight requests and streams
finish within a grace period before anything is killed.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from workspaces.agent.protocol import RPC_PATH

logger = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 30.0
AGENT_RPC_PATH = RPC_PATH.encode()


def open_listener(host: str, port: int) -> socket.socket:
    """A bound, listening, inheritable IPv4 socket for the workers to share.

    IPv4 only: Daphne adopts inherited sockets as AF_INET.
    """
    if ":" in host:
        raise ValueError(f"several workers need an IPv4 address to bind, not {host}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def run_daphne(
    *, host: str = "", port: int = 0, fd: int | None = None, grace: float, ready: Callable[[], None] | None = None
) -> None:
    """Serve the project's ASGI application in this process until SIGTERM/SIGINT.

    On the signal the listener closes at once; open connections get ``grace`` seconds to
    finish before the reactor stops and cancels what is left.
    """
    import gc

    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from twisted.internet import reactor, tcp

    from coderproject.asgi import application

    if fd is not None:
        endpoints = build_endpoint_description_strings(file_descriptor=fd)
    else:
        endpoints = build_endpoint_description_strings(host=host, port=port)
    server = Server(application=application, endpoints=endpoints, signal_handlers=False, verbosity=0)

    def started() -> None:
        # Start-up leaves a large heap of long-lived objects: freeze it so full collections
        # do not walk it on every request.
        gc.collect()
        gc.freeze()
        if ready is not None:
            ready()

    def drain(deadline: float) -> None:
        # Agents' sockets stay up while calls drain through them, but do not hold the worker:
        # the agents reconnect to another worker or to the restarted server.
        open_connections = [
            p
            for p, details in server.connections.items()
            if "disconnected" not in details and getattr(p, "path", b"") != AGENT_RPC_PATH
        ]
        if open_connections and time.monotonic() < deadline:
            reactor.callLater(0.1, drain, deadline)
            return
        if open_connections:
            logger.warning("grace period over: closing %d open connection(s)", len(open_connections))
        server.stop()

    def stop_accepting() -> None:
        for reader in reactor.getReaders():
            if isinstance(reader, tcp.Port):
                reader.stopListening()
        drain(time.monotonic() + grace)

    def on_signal(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        logger.info("worker %d: %s received, draining for up to %.0f s", os.getpid(), name, grace)
        reactor.callFromThread(stop_accepting)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.ready_callable = started
    server.run()


def _metrics_dir(data_dir: Path) -> str:
    """A fresh directory where the workers' metrics meet (prometheus_client multiprocess mode)."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return str(path)


def supervise(*, host: str, port: int, workers: int, grace: float, worker_args: list[str], data_dir: Path) -> None:
    """Run ``workers`` copies of ``manage.py server --worker-fd`` on one socket; restart the dead."""
    from prometheus_client import multiprocess

    sock = open_listener(host, port)
    metrics_dir = _metrics_dir(data_dir)
    fd = sock.fileno()
    command = [sys.executable, sys.argv[0], "server", "--worker-fd", str(fd), *worker_args]
    children: dict[int, subprocess.Popen] = {}
    started_at: dict[int, float] = {}
    respawn_at: dict[int, float] = {}
    backoff: dict[int, float] = {}
    stopping = False

    def spawn(slot: int) -> None:
        env = {**os.environ, "CODER_WORKER_ID": str(slot), "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        children[slot] = subprocess.Popen(command, pass_fds=(fd,), env=env)
        started_at[slot] = time.monotonic()
        logger.info("worker %d started (pid %d)", slot, children[slot].pid)

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(workers):
        spawn(slot)

    while not stopping:
        now = time.monotonic()
        for slot, child in children.items():
            if slot in respawn_at:
                if now >= respawn_at[slot]:
                    del respawn_at[slot]
                    spawn(slot)
                continue
            code = child.poll()
            if code is None:
                continue
            # A worker that ran for a while gets restarted at once; a crash loop backs off.
            multiprocess.mark_process_dead(child.pid, metrics_dir)
            lived = now - started_at[slot]
            backoff[slot] = 0.0 if lived > 30 else min(RESTART_BACKOFF_MAX, max(0.5, backoff.get(slot, 0.0) * 2))
            respawn_at[slot] = now + backoff[slot]
            logger.error(
                "worker %d (pid %d) exited with %s; restarting in %.1f s", slot, child.pid, code, backoff[slot]
            )
        time.sleep(0.2)

    deadline = time.monotonic() + grace + 5
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("worker pid %d did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()
    sock.close()
