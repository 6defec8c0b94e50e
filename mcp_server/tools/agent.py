"""Inside a workspace: run commands and work with files through its agent connection."""

import base64
import binascii
import mimetypes
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from mcp_server.db import run_orm
from mcp_server.tools.base import Shape, annotations, caller, domain_errors, error_result, result
from mcp_server.tools.workspaces import progress_requested
from oauth.models import User
from workspaces import selectors, services
from workspaces.errors import Conflict, DomainError
from workspaces.permissions import require_workspace_action
from workspaces.runtime import AgentConnection, Edit, connection_for

# A tool result travels twice (JSON text and structuredContent) and file content as base64,
# while clients built on the Python SDK refuse SSE events over 1 MiB: keep one result well
# under that. Larger files are read in pages with ``offset``.
TOOL_READ_LIMIT = 256 * 1024
TOOL_OUTPUT_LIMIT = 256 * 1024

DEFAULT_TIMEOUT_MS = 60_000
MAX_TIMEOUT_MS = 300_000
START_TIMEOUT_S = 300
STARTABLE = {"stopped", "failed", "canceled"}
STARTING = {"pending", "starting"}
START_HINT = (
    'Start it with coder_create_workspace_build(transition="start"), or run any command with '
    "coder_workspace_bash, which starts it first."
)

WorkspaceName = Annotated[
    str,
    Field(description="The workspace: name (yours), owner/name, owner--name or name.agent.", min_length=1),
]
AbsolutePath = Annotated[str, Field(description="An absolute path inside the workspace, e.g. /home/coder/app.py.")]


class BashOut(Shape):
    output: str = Field(description="stdout and stderr combined.")
    exit_code: int = Field(description="The command's exit code; 124 when it timed out.")


class Entry(Shape):
    path: str
    is_dir: bool


class Listing(Shape):
    contents: list[Entry]


class FileContent(Shape):
    content: str = Field(description="The bytes read, base64.")
    mimeType: str  # noqa: N815 (Coder's field name)


class Written(Shape):
    path: str
    size: int


class EditOut(Shape):
    path: str
    replacements: int


class EditsOut(Shape):
    files: list[EditOut]


class SearchReplace(BaseModel):
    search: str = Field(description="Text to find; it must occur exactly once unless replace_all is true.")
    replace: str = Field(description="The replacement text.")
    replace_all: bool = Field(default=False, description="Replace every occurrence instead of requiring one.")


class FileEdits(BaseModel):
    path: AbsolutePath
    edits: list[SearchReplace] = Field(description="Applied in order.")


def _connect(*, actor: User, ref: str, act: bool) -> AgentConnection:
    """The workspace's agent connection; ``act`` (commands, writes) needs its owner or a site
    owner, reading needs only to see it (an auditor reads, never acts)."""
    workspace = selectors.workspace_get(actor=actor, ref=ref)
    if act:
        require_workspace_action(actor, workspace)
    try:
        return connection_for(workspace)
    except Conflict as error:
        raise Conflict(error.message, detail=START_HINT) from None


def _start_if_stopped(*, actor: User, ref: str) -> str | None:
    """Queue a start build for a stopped workspace; its status when it is not (None when running)."""
    workspace = selectors.workspace_get(actor=actor, ref=ref)
    if workspace.status in STARTABLE:
        services.workspace_build_create(actor=actor, workspace=workspace.id, transition="start")
        return "starting"
    return None if workspace.status == "running" else workspace.status


def _wait_ready(*, actor: User, ref: str) -> AgentConnection:
    workspace = selectors.workspace_get(actor=actor, ref=ref)
    require_workspace_action(actor, workspace)
    ready = selectors.workspace_wait_ready(actor=actor, workspace=workspace, timeout_s=START_TIMEOUT_S)
    return connection_for(ready)


async def _connect_starting(ctx: Context, *, actor: User, ref: str) -> AgentConnection:
    """Coder's bash behaviour: a stopped workspace is started and waited for."""
    status = await run_orm(_start_if_stopped, actor=actor, ref=ref)
    if status is None:
        return await run_orm(_connect, actor=actor, ref=ref, act=True)
    if status not in STARTING:
        raise Conflict(f"Workspace {ref} is {status}; it cannot run commands.", detail=START_HINT)
    await ctx.log("info", f"Workspace {ref} is starting; waiting until it is ready.", logger_name="coder.workspace")
    if progress_requested(ctx):
        await ctx.report_progress(0, None, "Starting the workspace")
    return await run_orm(_wait_ready, actor=actor, ref=ref)


def register(server: MCPServer) -> None:
    @server.tool(
        name="coder_workspace_bash",
        description=(
            "Run a bash command in a workspace (stdout and stderr combined). A stopped workspace is started "
            "first. On timeout the command is killed and exit_code is 124. background=true detaches it and "
            "returns at once."
        ),
        annotations=annotations("Run command", read_only=False, destructive=True),
    )
    @domain_errors
    async def coder_workspace_bash(
        workspace: WorkspaceName,
        command: Annotated[str, Field(description="The bash command line to run.", min_length=1)],
        ctx: Context,
        timeout_ms: Annotated[
            int, Field(description="Kill the command after this many milliseconds.", gt=0, le=MAX_TIMEOUT_MS)
        ] = DEFAULT_TIMEOUT_MS,
        background: Annotated[bool, Field(description="Detach the command and return immediately.")] = False,
    ) -> Annotated[CallToolResult, BashOut]:
        connection = await _connect_starting(ctx, actor=caller(), ref=workspace)
        report = progress_requested(ctx)
        received = 0

        async def relay(chunk: str) -> None:
            nonlocal received
            received += len(chunk)
            await ctx.log("info", chunk, logger_name="coder.bash")
            if report:
                await ctx.report_progress(received, None, chunk[-200:])

        outcome = await connection.exec(
            command, timeout_s=timeout_ms / 1000, background=background, output_limit=TOOL_OUTPUT_LIMIT, on_output=relay
        )
        output = outcome.output
        if outcome.truncated:
            output += "\n[output truncated: only the first part was kept; redirect to a file and read it instead]"
        return result({"output": output, "exit_code": outcome.exit_code})

    @server.tool(
        name="coder_workspace_ls",
        description="List a directory in a workspace.",
        annotations=annotations("List directory", read_only=True),
    )
    @domain_errors
    async def coder_workspace_ls(workspace: WorkspaceName, path: AbsolutePath) -> Annotated[CallToolResult, Listing]:
        connection = await run_orm(_connect, actor=caller(), ref=workspace, act=False)
        entries = await connection.ls(path)
        return result({"contents": [{"path": e.path, "is_dir": e.is_dir} for e in entries]})

    @server.tool(
        name="coder_workspace_read_file",
        description=(
            f"Read a file from a workspace, base64 encoded, at most {TOOL_READ_LIMIT} bytes a call (page with offset)."
        ),
        annotations=annotations("Read file", read_only=True),
    )
    @domain_errors
    async def coder_workspace_read_file(
        workspace: WorkspaceName,
        path: AbsolutePath,
        offset: Annotated[int, Field(description="Byte offset to start from.", ge=0)] = 0,
        limit: Annotated[
            int, Field(description="How many bytes to read at most.", gt=0, le=TOOL_READ_LIMIT)
        ] = TOOL_READ_LIMIT,
    ) -> Annotated[CallToolResult, FileContent]:
        connection = await run_orm(_connect, actor=caller(), ref=workspace, act=False)
        data = await connection.read(path, offset=offset, limit=limit)
        mime_type = mimetypes.guess_type(path)[0] or _sniff(data)
        return result({"content": base64.b64encode(data).decode(), "mimeType": mime_type})

    @server.tool(
        name="coder_workspace_write_file",
        description="Write a file in a workspace (replacing it atomically; parent directories are created).",
        annotations=annotations("Write file", read_only=False, destructive=True, idempotent=True),
    )
    @domain_errors
    async def coder_workspace_write_file(
        workspace: WorkspaceName,
        path: AbsolutePath,
        content: Annotated[str, Field(description="The whole new file content, base64 encoded.")],
    ) -> Annotated[CallToolResult, Written]:
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            return error_result("content must be base64 (standard alphabet, padded); encode the file and retry.")
        connection = await run_orm(_connect, actor=caller(), ref=workspace, act=True)
        await connection.write(path, data)
        return result({"path": path, "size": len(data)})

    @server.tool(
        name="coder_workspace_edit_file",
        description="Apply search/replace edits to one text file in a workspace, in order, written atomically.",
        annotations=annotations("Edit file", read_only=False, destructive=True),
    )
    @domain_errors
    async def coder_workspace_edit_file(
        workspace: WorkspaceName,
        path: AbsolutePath,
        edits: Annotated[list[SearchReplace], Field(description="The edits, applied in order.", min_length=1)],
    ) -> Annotated[CallToolResult, EditOut]:
        connection = await run_orm(_connect, actor=caller(), ref=workspace, act=True)
        return result(await _edit(connection, FileEdits(path=path, edits=edits)))

    @server.tool(
        name="coder_workspace_edit_files",
        description="Apply search/replace edits to several files in a workspace, file by file.",
        annotations=annotations("Edit files", read_only=False, destructive=True),
    )
    @domain_errors
    async def coder_workspace_edit_files(
        workspace: WorkspaceName,
        files: Annotated[list[FileEdits], Field(description="Files and their edits.", min_length=1)],
    ) -> Annotated[CallToolResult, EditsOut]:
        connection = await run_orm(_connect, actor=caller(), ref=workspace, act=True)
        done: list[dict[str, Any]] = []
        for item in files:
            try:
                done.append(await _edit(connection, item))
            except DomainError as error:
                applied = ", ".join(d["path"] for d in done) or "none"
                raise type(error)(
                    f"{item.path}: {error.message}", field=error.field, detail=f"Files already edited: {applied}."
                ) from None
        return result({"files": done})


async def _edit(connection: AgentConnection, item: FileEdits) -> dict[str, Any]:
    edits = [Edit(search=e.search, replace=e.replace, replace_all=e.replace_all) for e in item.edits]
    outcome = await connection.edit(item.path, edits)
    return {"path": item.path, "replacements": outcome.replacements}


def _sniff(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
