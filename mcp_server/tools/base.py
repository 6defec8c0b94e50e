"""What every tool shares: the caller, Coder-shaped results, and domain errors as tool errors.

Tools are thin adapters: validate (the SDK does it from the typed signature), call a
selector or service (permissions live there), serialize with ``workspaces.serializers``.
A result is the JSON object as one text block plus the same object as ``structuredContent``
(described by the tool's ``outputSchema``). A ``DomainError`` becomes an ``isError`` result
whose text says what went wrong and what to do next.
"""

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from django.conf import settings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from audit.models import AuditEvent
from audit.services import audit_record_later
from coderproject.observability import TOOL_CALLS, TOOL_LATENCY
from coderproject.ratelimit import arate_limit_hits
from mcp_server.auth import current_client_ip, current_credential
from oauth.models import User
from workspaces.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

P = ParamSpec("P")

# Appended to a domain error's message so a model knows its next step.
NEXT_STEP: dict[type[DomainError], str] = {
    NotFound: "Check the id or name; list what you can see with coder_list_workspaces or coder_list_templates.",
    InvalidInput: "Fix the argument named above and call the tool again.",
    Conflict: "Wait for the current build to finish (coder_get_workspace_build_logs) or change the state first.",
    Forbidden: "Your role does not allow this; ask a template admin or owner.",
    DomainError: "Read the message above and adjust the call.",
}


class Shape(BaseModel):
    """Base of the output schemas: Coder's JSON shapes, which may carry more fields than listed."""

    model_config = ConfigDict(extra="allow")


def caller() -> User:
    return current_credential().user


def result(data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))], structured_content=data)


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def describe(error: DomainError) -> str:
    parts = [error.message.rstrip(".") + "."]
    if error.field:
        parts.append(f"(argument: {error.field})")
    if error.detail:  # the service's own advice is the most specific next step
        parts.append(error.detail)
    else:
        parts.append(next(text for kind, text in NEXT_STEP.items() if isinstance(error, kind)))
    return " ".join(parts)


def domain_errors(fn: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """Answer a ``DomainError`` as an ``isError`` result instead of a protocol error, and
    account for every call in one place: metrics and an audit row (name, workspace,
    outcome, duration; never the arguments' contents or the output)."""
    name = fn.__name__

    @functools.wraps(fn)
    async def tool(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        started = time.perf_counter()
        outcome = "error"
        credential = current_credential()
        try:
            wait = await arate_limit_hits(
                scope="mcp-tool",
                limits={
                    f"user:{credential.user.pk}": settings.CODER_RATELIMIT_TOOL_CALLS,
                    f"ip:{current_client_ip()}": settings.CODER_RATELIMIT_TOOL_CALLS_PER_IP,
                },
            )
            if wait:
                outcome = "rate_limited"
                return error_result(f"Rate limit: too many tool calls. Wait {wait} seconds and call the tool again.")
            answer = await fn(*args, **kwargs)
            outcome = "error" if answer.is_error else "success"
            return answer
        except DomainError as error:
            return error_result(describe(error))
        finally:
            elapsed = time.perf_counter() - started
            TOOL_CALLS.labels(name, outcome).inc()
            TOOL_LATENCY.labels(name).observe(elapsed)
            workspace = kwargs.get("workspace") or kwargs.get("workspace_id")
            audit_record_later(
                action=AuditEvent.Action.TOOL_CALL,
                outcome=AuditEvent.Outcome.SUCCESS if outcome == "success" else AuditEvent.Outcome.FAILURE,
                user=credential.user,
                resource_type="workspace" if workspace else "",
                resource_id=str(workspace or "")[:255],
                detail={"tool": name, "rate_limited": True} if outcome == "rate_limited" else {"tool": name},
                duration_ms=round(elapsed * 1000, 3),
            )

    return tool


def annotations(title: str, *, read_only: bool, destructive: bool = False, idempotent: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive if not read_only else False,
        idempotent_hint=idempotent or read_only,
        open_world_hint=False,
    )
