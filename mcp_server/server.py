"""Building the MCP server: identity, instructions and the registered tools."""

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from coderproject import __version__
from mcp_server.tools import register_all

INSTRUCTIONS = """\
This server manages Coder workspaces: development environments created from templates.

Typical workflow:
1. coder_get_authenticated_user tells you who you act as.
2. coder_list_templates lists templates; coder_template_version_parameters(template_version_id)
   lists the parameters a template version needs (pass the template's active_version_id).
3. coder_create_workspace(user="me", template_version_id, name, rich_parameters) creates a
   workspace and starts its first build. coder_list_workspaces / coder_get_workspace show status.
4. coder_create_workspace_build(workspace_id, transition="start"|"stop"|"delete") changes its
   state; coder_get_workspace_build_logs(workspace_build_id) follows a build until it ends.
5. Inside a running workspace: coder_workspace_bash runs a command (it starts a stopped
   workspace first), coder_workspace_ls / coder_workspace_read_file / coder_workspace_write_file /
   coder_workspace_edit_file(s) work with files. Paths are absolute inside the workspace;
   file contents are base64.

Workspaces are named "name", "owner/name" or "name.agent". Errors say what to do next
(for example, start a stopped workspace with coder_create_workspace_build).
To author templates: coder_upload_tar_file → coder_create_template_version(file_id) →
coder_get_template_version_logs → coder_create_template or coder_update_template_active_version.
"""


class ToolListCache:
    """Serve ``tools/list`` from its first wire-ready answer per protocol version.

    The tool list is fixed when the server is built and the same for every caller, but the
    SDK validates and serializes all 21 schemas on every call: half the CPU of a list. A
    middleware result is sent as is, so the cached dict skips that work.
    """

    def __init__(self) -> None:
        self._by_version: dict[str, dict[str, Any]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/list" or ctx.request_id is None or (ctx.params or {}).get("cursor"):
            return await call_next(ctx)  # a notification named tools/list has no answer to keep
        cached = self._by_version.get(ctx.protocol_version)
        if cached is None:
            cached = self._by_version[ctx.protocol_version] = await call_next(ctx)
        return dict(cached)


def build_server() -> MCPServer:
    """The standard toolset (``?toolset=standard``, the default)."""
    server = MCPServer(
        name="coder",
        title="Coder",
        description="Create and use Coder workspaces: templates, builds, commands and files.",
        instructions=INSTRUCTIONS,
        version=__version__,
        middleware=[ToolListCache()],
    )
    register_all(server)
    return server
