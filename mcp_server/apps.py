from django.apps import AppConfig


class MCPServerConfig(AppConfig):
    name = "mcp_server"
    verbose_name = "MCP server"
