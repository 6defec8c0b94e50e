"""The agent's WebSocket: the server end of ``python -m workspaces.agent``.

One consumer per connected agent, on whichever worker took the socket. Its channel name is
stored on the agent row, so a request from any worker reaches it through the channel layer
(``workspaces.runtime.remote``); replies go back to the caller's own reply channel. When the
socket closes, every call still waiting on it is told at once.
"""

import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from workspaces import services
from workspaces.agent import protocol
from workspaces.errors import DomainError
from workspaces.runtime.local import build_environment, process_policy

REFUSED = 4401


def _manifest(agent) -> dict[str, Any]:
    from workspaces.manifest import Manifest

    build = agent.build
    manifest = Manifest.from_json(build.template_version.manifest or {})
    return {
        "type": "manifest",
        "agent_id": str(agent.id),
        "workspace_id": str(build.workspace_id),
        "directory": agent.directory,
        "env": build_environment(build),
        "startup_script": manifest.startup_script,
        "startup_script_timeout": manifest.startup_script_timeout,
        "heartbeat_s": settings.CODER_AGENT_HEARTBEAT_S,
        "process_policy": process_policy().to_json(),  # the same limits as local processes
    }


class AgentRPCConsumer(AsyncJsonWebsocketConsumer):
    agent_id = None

    async def connect(self) -> None:
        headers = dict(self.scope["headers"])
        token = headers.get(protocol.TOKEN_HEADER.lower().encode(), b"").decode("latin-1")
        self.pending: dict[str, str] = {}
        self.reassembler = protocol.Reassembler()
        agent = await database_sync_to_async(services.agent_connect)(token=token, channel_name=self.channel_name)
        if agent is None:
            await self.close(code=REFUSED)  # before accept: the handshake is answered 403
            return
        self.agent_id = agent.id
        manifest = await database_sync_to_async(_manifest)(agent)
        await self.accept()
        await self.send_json(manifest)

    async def disconnect(self, code: int) -> None:
        if self.agent_id is None:
            return
        for request_id, reply_to in self.pending.items():
            await self.channel_layer.send(
                reply_to,
                {
                    "type": "agent.result",
                    "id": request_id,
                    "error": {"kind": "Conflict", "message": "The workspace agent disconnected during the call."},
                },
            )
        self.pending.clear()
        await database_sync_to_async(services.agent_disconnected)(
            agent_id=self.agent_id, channel_name=self.channel_name
        )

    async def send_json(self, content: Any, close: bool = False) -> None:
        for frame in protocol.split_message(content):
            await self.send(text_data=frame)
        if close:
            await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            message = self.reassembler.feed(text_data or "")
        except ValueError:  # not JSON, or an endless message
            await self.close(code=4400)
            return
        if message is not None:
            await self.receive_json(message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind in ("hello", "heartbeat"):
            await database_sync_to_async(services.agent_heartbeat)(
                agent_id=self.agent_id,
                channel_name=self.channel_name,
                version=content.get("version"),
                directory=content.get("directory"),
            )
        elif kind == "lifecycle":
            with contextlib.suppress(DomainError):  # an agent from a newer release may know more states
                await database_sync_to_async(services.agent_lifecycle_report)(
                    agent_id=self.agent_id, state=content.get("state")
                )
        elif kind == "logs" and isinstance(content.get("lines"), list):
            await database_sync_to_async(services.agent_logs_append)(agent_id=self.agent_id, lines=content["lines"])
        elif kind == "output" and content.get("id") in self.pending:
            await self.channel_layer.send(
                self.pending[content["id"]], {"type": "agent.output", "text": str(content.get("text", ""))}
            )
        elif kind == "result" and content.get("id") in self.pending:
            reply = {"type": "agent.result", "id": content["id"]}
            if "error" in content:
                reply["error"] = content["error"]
            else:
                reply["result"] = content.get("result", {})
            await self.channel_layer.send(self.pending.pop(content["id"]), reply)

    # -- from callers on any worker, through the channel layer ------------------

    async def agent_request(self, event: dict[str, Any]) -> None:
        self.pending[event["id"]] = event["reply_to"]
        await self.send_json({"type": "request", "id": event["id"], "op": event["op"], "args": event["args"]})

    async def agent_cancel(self, event: dict[str, Any]) -> None:
        if self.pending.pop(event["id"], None) is not None:
            await self.send_json({"type": "cancel", "id": event["id"]})

    async def agent_shutdown(self, event: dict[str, Any]) -> None:
        """The build stopped: the agent kills the workspace's processes and exits."""
        await self.send_json({"type": "shutdown"})
        await self.close(code=4000)
