"""Coder's MCP tools, grouped by area; each module's ``register`` adds its tools to a server."""

from mcp.server.mcpserver import MCPServer

from mcp_server.tools import agent, templates, users, workspaces


def register_all(server: MCPServer) -> None:
    for area in (users, workspaces, templates, agent):
        area.register(server)
