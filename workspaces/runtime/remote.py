"""A workspace reached through its agent's WebSocket, from any server worker.

Each call sends a request through the channel layer to the consumer holding the agent's
socket (its channel name is on the agent row) and waits on a private reply channel. A call to
an agent that is not connected fails at once; a waiting call re-checks the agent now and then,
so a dead worker or a silent agent ends it with a clear message, and nothing waits past its
deadline. Cancelling a waiting ``exec`` tells the agent to kill the command.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from workspaces.agent import protocol
from workspaces.errors import Conflict
from workspaces.models import WorkspaceAgent
from workspaces.runtime import (
    DEFAULT_OUTPUT_LIMIT,
    MAX_READ_BYTES,
    AgentConnection,
    Edit,
    EditResult,
    Entry,
    ExecResult,
    OutputCallback,
)

FILE_DEADLINE_S = 30.0
EXEC_GRACE_S = 10.0  # the agent enforces the command's timeout; this covers the round trip
LIVENESS_CHECK_S = 2.0


def live_channel(agent: WorkspaceAgent) -> str:
    """The channel of the consumer holding the agent's socket, or ``Conflict`` saying why not."""
    if not agent.token_hash or agent.lifecycle_state == WorkspaceAgent.Lifecycle.OFF:
        raise Conflict("The workspace agent is off; start the workspace again.")
    status = agent.current_status(heartbeat_s=settings.CODER_AGENT_HEARTBEAT_S)
    if status == WorkspaceAgent.Status.TIMEOUT:
        raise Conflict(
            f"The workspace agent timed out: no heartbeat since {agent.last_heartbeat_at:%Y-%m-%d %H:%M:%S} UTC."
        )
    if status != WorkspaceAgent.Status.CONNECTED or not agent.channel_name:
        raise Conflict(f"The workspace agent is {status}; it is not connected to the server.")
    return agent.channel_name


class ChannelAgentConnection(AgentConnection):
    def __init__(self, *, agent_id: uuid.UUID, directory: str) -> None:
        self.agent_id = agent_id
        self.directory = directory

    async def _channel(self) -> str:
        return live_channel(await WorkspaceAgent.objects.aget(id=self.agent_id))

    async def _call(
        self,
        op: str,
        args: dict[str, Any],
        *,
        deadline_s: float,
        on_output: Callable[[str], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        channel = await self._channel()
        layer = get_channel_layer()
        reply_to = await layer.new_channel("agent-reply.")
        request_id = uuid.uuid4().hex
        await layer.send(
            channel, {"type": "agent.request", "id": request_id, "op": op, "args": args, "reply_to": reply_to}
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise Conflict(f"The workspace agent did not answer within {deadline_s:g} s.")
                try:
                    message = await asyncio.wait_for(layer.receive(reply_to), min(remaining, LIVENESS_CHECK_S))
                except TimeoutError:
                    if await self._channel() != channel:
                        raise Conflict("The workspace agent reconnected during the call; run it again.") from None
                    continue
                if message["type"] == "agent.output":
                    if on_output is not None:
                        await on_output(message["text"])
                    continue
                if "error" in message:
                    raise protocol.error_from_json(message["error"])
                return message["result"]
        except asyncio.CancelledError:
            await asyncio.shield(layer.send(channel, {"type": "agent.cancel", "id": request_id}))
            raise

    async def exec(
        self,
        command: str,
        *,
        timeout_s: float,
        background: bool = False,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        on_output: OutputCallback | None = None,
    ) -> ExecResult:
        args = {
            "command": command,
            "timeout_s": timeout_s,
            "background": background,
            "output_limit": output_limit,
            "stream": on_output is not None,
        }
        result = await self._call("exec", args, deadline_s=timeout_s + EXEC_GRACE_S, on_output=on_output)
        return ExecResult(
            output=result["output"],
            exit_code=result["exit_code"],
            truncated=result["truncated"],
            timed_out=result["timed_out"],
        )

    async def ls(self, path: str) -> list[Entry]:
        result = await self._call("ls", {"path": path}, deadline_s=FILE_DEADLINE_S)
        return [Entry(path=e["path"], is_dir=e["is_dir"]) for e in result["entries"]]

    async def read(self, path: str, *, offset: int = 0, limit: int = MAX_READ_BYTES) -> bytes:
        result = await self._call("read", {"path": path, "offset": offset, "limit": limit}, deadline_s=FILE_DEADLINE_S)
        return protocol.decode_bytes(result["data"])

    async def write(self, path: str, data: bytes) -> None:
        await self._call("write", {"path": path, "data": protocol.encode_bytes(data)}, deadline_s=FILE_DEADLINE_S)

    async def edit(self, path: str, edits: list[Edit]) -> EditResult:
        payload = [{"search": e.search, "replace": e.replace, "replace_all": e.replace_all} for e in edits]
        result = await self._call("edit", {"path": path, "edits": payload}, deadline_s=FILE_DEADLINE_S)
        return EditResult(path=result["path"], replacements=result["replacements"])
