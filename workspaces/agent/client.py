"""The agent process: dial the server, keep the socket alive, serve requests on this host.

One session per connection. The server sends the manifest first; the agent runs the
startup script once per process (reporting lifecycle and log lines), answers requests
concurrently, sends heartbeats, and reconnects with exponential backoff when the socket
drops. A refused token (HTTP 403 at the handshake) ends the process: it will not become valid.
"""

import asyncio
import contextlib
import logging
import os
import random
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from workspaces.agent import protocol
from workspaces.runtime.host import LocalAgentConnection, ProcessPolicy, kill_workspace_processes

logger = logging.getLogger("coder.agent")

BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 10.0
LOG_FLUSH_S = 0.2


class TokenRefused(Exception):
    pass


async def send_message(socket: ClientConnection, message: dict[str, Any]) -> None:
    for frame in protocol.split_message(message):
        await socket.send(frame)


def rpc_url(server_url: str) -> str:
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + protocol.RPC_PATH, "", ""))


class Agent:
    def __init__(self, *, url: str, token: str, directory: str | None = None) -> None:
        self.url = url
        self.token = token
        self.directory = directory
        self.connection: LocalAgentConnection | None = None
        self.socket: ClientConnection | None = None
        self.lifecycle = "created"
        self.started = False
        self.tasks: dict[str, asyncio.Task] = {}
        self.outbox: list[dict[str, Any]] = []  # lifecycle and logs wait for the next connection
        self.startup_task: asyncio.Task | None = None
        self.stopped = asyncio.Event()  # the server stopped the workspace
        self.workspace_id: str | None = None
        self.root: str | None = None

    async def run(self) -> int:
        delay = BACKOFF_START_S
        origin = urlunsplit(urlsplit(self.url)._replace(path="", query="", fragment=""))
        while True:
            try:
                async with websockets.connect(
                    rpc_url(self.url),
                    additional_headers={protocol.TOKEN_HEADER: self.token},
                    origin=origin,
                    max_size=None,
                    compression=None,  # deflating base64 file contents costs more than it saves
                    open_timeout=10,
                ) as socket:
                    delay = BACKOFF_START_S
                    await self.session(socket)
                if self.stopped.is_set():
                    return 0
            except InvalidStatus as error:
                if error.response.status_code in (401, 403):
                    logger.error("the server refused the agent token")
                    return 2
                logger.warning("handshake failed: %s", error)
            except (OSError, ConnectionClosed, TimeoutError, websockets.InvalidHandshake) as error:
                logger.info("disconnected: %s", error)
            await asyncio.sleep(delay * (1 + random.random() / 2))  # noqa: S311 (jitter, not a secret)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def session(self, socket: ClientConnection) -> None:
        self.socket = socket
        heartbeat: asyncio.Task | None = None
        try:
            await send_message(socket, {"type": "hello", "version": protocol.VERSION})
            reassembler = protocol.Reassembler()
            async for raw in socket:
                message = reassembler.feed(raw)
                if message is None:
                    continue
                kind = message.get("type")
                if kind == "manifest":
                    self.configure(message)
                    # Where the workspace lives here (``--directory`` may differ from the server's idea).
                    await send_message(socket, {"type": "hello", "version": protocol.VERSION, "directory": self.root})
                    if heartbeat is None:
                        heartbeat = asyncio.create_task(self.heartbeats(socket, float(message["heartbeat_s"])))
                    await self.flush()
                elif kind == "request":
                    self.tasks[message["id"]] = asyncio.create_task(self.handle(socket, message))
                elif kind == "cancel" and message["id"] in self.tasks:
                    self.tasks.pop(message["id"]).cancel()
                elif kind == "shutdown":
                    self.stopped.set()
                    return
        finally:
            self.socket = None
            if heartbeat is not None:
                heartbeat.cancel()
            # The server has already failed these calls; what they started must not run on.
            for task in self.tasks.values():
                task.cancel()
            self.tasks.clear()

    def configure(self, manifest: dict[str, Any]) -> None:
        root = Path(self.directory or manifest["directory"]).resolve()
        root.mkdir(parents=True, exist_ok=True)
        self.root = str(root)
        env = dict(manifest["env"])
        env.update(HOME=str(root), PWD=str(root))
        self.workspace_id = manifest["workspace_id"]
        self.connection = LocalAgentConnection(
            root=root,
            env=env,
            workspace_id=self.workspace_id,
            policy=ProcessPolicy.from_json(manifest.get("process_policy")),
        )
        if not self.started:
            self.started = True
            self.startup_task = asyncio.create_task(
                self.startup(manifest.get("startup_script") or "", float(manifest.get("startup_script_timeout", 300)))
            )

    async def send(self, message: dict[str, Any]) -> None:
        """Send now, or keep lifecycle and log messages for the next connection."""
        if self.socket is not None:
            try:
                await send_message(self.socket, message)
                return
            except ConnectionClosed:
                pass
        if message["type"] in ("lifecycle", "logs"):
            self.outbox.append(message)

    async def flush(self) -> None:
        pending, self.outbox = self.outbox, []
        for message in pending:
            await self.send(message)

    async def set_lifecycle(self, state: str) -> None:
        self.lifecycle = state
        await self.send({"type": "lifecycle", "state": state})

    async def startup(self, script: str, timeout_s: float) -> None:
        if not script.strip():
            await self.set_lifecycle("ready")
            return
        await self.set_lifecycle("starting")
        pending = ""

        async def on_output(text: str) -> None:
            nonlocal pending
            *lines, pending = (pending + text).split("\n")
            if lines:
                await self.send({"type": "logs", "lines": [{"level": "info", "output": line} for line in lines]})

        try:
            result = await self.connection.exec(script, timeout_s=timeout_s, on_output=on_output)
        except Exception as error:  # the script could not run at all: that is the agent's start error
            await self.send({"type": "logs", "lines": [{"level": "error", "output": f"Startup failed: {error}"}]})
            await self.set_lifecycle("start_error")
            return
        lines = [{"level": "info", "output": pending}] if pending else []
        if result.exit_code != 0:
            lines.append({"level": "error", "output": f"The startup script exited with code {result.exit_code}."})
        if lines:
            await self.send({"type": "logs", "lines": lines})
        await self.set_lifecycle("ready" if result.exit_code == 0 else "start_error")

    async def heartbeats(self, socket: ClientConnection, interval_s: float) -> None:
        while True:
            await send_message(socket, {"type": "heartbeat"})
            await asyncio.sleep(interval_s)

    async def handle(self, socket: ClientConnection, message: dict[str, Any]) -> None:
        request_id = message["id"]

        async def on_output(text: str) -> None:
            await send_message(socket, {"type": "output", "id": request_id, "text": text})

        try:
            if self.connection is None:
                raise protocol.Conflict("The agent has not received its manifest yet.")
            result = await protocol.serve_request(self.connection, message["op"], message["args"], on_output)
            reply = {"type": "result", "id": request_id, "result": result}
        except Exception as error:
            reply = {"type": "result", "id": request_id, "error": protocol.error_json(error)}
        finally:
            self.tasks.pop(request_id, None)
        with contextlib.suppress(ConnectionClosed):  # the server already failed the call
            await send_message(socket, reply)

    async def shut_down(self) -> None:
        await self.set_lifecycle("shutting_down")
        for task in [*self.tasks.values(), self.startup_task]:
            if task is not None:
                task.cancel()
        if self.workspace_id is not None:
            await asyncio.to_thread(kill_workspace_processes, self.workspace_id)
        await self.set_lifecycle("off")
        if self.socket is not None:
            await self.socket.close()


async def main(*, url: str, token: str, directory: str | None = None) -> int:
    agent = Agent(url=url, token=token, directory=directory)
    runner = asyncio.create_task(agent.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done() and not agent.stopped.is_set():
        stopper.cancel()
        return runner.result()
    await agent.shut_down()
    runner.cancel()
    logger.info("agent %s stopped", os.getpid())
    return 0
