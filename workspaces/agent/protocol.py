"""The agent's wire protocol: JSON messages over one WebSocket, shared by both ends.

Server to agent: ``manifest`` (after the handshake: directory, env, startup script, process
policy), ``request`` {id, op, args}, ``cancel`` {id}, ``shutdown``.
Agent to server: ``hello`` {version; again with directory once configured}, ``heartbeat``,
``lifecycle`` {state}, ``logs`` {lines}, ``output`` {id, text} (exec chunks), ``result`` {id, result | error}.
Binary file contents travel base64-encoded; domain errors keep their class and field.
Daphne caps a WebSocket message at 1 MiB, so longer messages travel as ``part`` messages
(``split_message``) and are put together again on the other side (``Reassembler``).
"""

import base64
import json
import uuid
from typing import Any

from workspaces.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from workspaces.runtime import AgentConnection, Edit

RPC_PATH = "/api/v2/workspaceagents/me/rpc"
TOKEN_HEADER = "Coder-Session-Token"  # noqa: S105 (a header name)
VERSION = "0.1.0"
LIFECYCLE_STATES = ("starting", "ready", "start_error", "shutting_down", "off")
OPS = ("exec", "ls", "read", "write", "edit")

PART_CHARS = 256 * 1024
MAX_MESSAGE_CHARS = 64 * 1024 * 1024

_ERRORS = {cls.__name__: cls for cls in (DomainError, NotFound, InvalidInput, Conflict, Forbidden)}


def error_json(error: BaseException) -> dict[str, Any]:
    if isinstance(error, DomainError):
        kind = type(error).__name__ if type(error).__name__ in _ERRORS else "DomainError"
        return {"kind": kind, "message": error.message, "field": error.field}
    return {"kind": "DomainError", "message": f"The agent failed: {type(error).__name__}: {error}", "field": None}


def error_from_json(data: dict[str, Any]) -> DomainError:
    cls = _ERRORS.get(data.get("kind", ""), DomainError)
    return cls(str(data.get("message", "The agent failed.")), field=data.get("field"))


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def split_message(message: dict[str, Any]) -> list[str]:
    """The message as one text frame, or as ``part`` frames when it is long."""
    text = json.dumps(message)
    if len(text) <= PART_CHARS:
        return [text]
    key = uuid.uuid4().hex
    starts = range(0, len(text), PART_CHARS)
    return [
        json.dumps({"type": "part", "key": key, "data": text[i : i + PART_CHARS], "last": i + PART_CHARS >= len(text)})
        for i in starts
    ]


class Reassembler:
    """Turns received frames back into messages (``None`` while a long one is incomplete)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}
        self.size = 0

    def feed(self, text: str) -> Any:
        message = json.loads(text)
        if not isinstance(message, dict) or message.get("type") != "part":
            return message
        key, data = str(message.get("key")), str(message.get("data", ""))
        self.size += len(data)
        if self.size > MAX_MESSAGE_CHARS:
            raise ValueError("message too long")
        self.parts.setdefault(key, []).append(data)
        if not message.get("last"):
            return None
        whole = "".join(self.parts.pop(key))
        self.size -= len(whole)
        return json.loads(whole)


async def serve_request(connection: AgentConnection, op: str, args: dict[str, Any], on_output=None) -> dict:
    """Run one request on the agent's host; the reply's ``result`` payload."""
    if op == "exec":
        result = await connection.exec(
            args["command"],
            timeout_s=float(args["timeout_s"]),
            background=bool(args.get("background")),
            output_limit=int(args["output_limit"]),
            on_output=on_output if args.get("stream") else None,
        )
        return {
            "output": result.output,
            "exit_code": result.exit_code,
            "truncated": result.truncated,
            "timed_out": result.timed_out,
        }
    if op == "ls":
        return {"entries": [{"path": e.path, "is_dir": e.is_dir} for e in await connection.ls(args["path"])]}
    if op == "read":
        data = await connection.read(args["path"], offset=int(args["offset"]), limit=int(args["limit"]))
        return {"data": encode_bytes(data)}
    if op == "write":
        await connection.write(args["path"], decode_bytes(args["data"]))
        return {}
    if op == "edit":
        edits = [Edit(e["search"], e["replace"], bool(e.get("replace_all"))) for e in args["edits"]]
        result = await connection.edit(args["path"], edits)
        return {"path": result.path, "replacements": result.replacements}
    raise InvalidInput(f"Unknown agent operation {op!r}.", field="op")
