"""Ready-to-paste configuration for AI assistants, filled in with this deployment's MCP URL.

Every client sends the session token in Coder's ``Coder-Session-Token`` header; the token
itself is a placeholder the user replaces with one from Settings > Tokens.
"""

import json
from dataclasses import dataclass

from django.conf import settings

from coderproject import experiments

TOKEN_PLACEHOLDER = "YOUR_SESSION_TOKEN"  # noqa: S105 (a placeholder the user replaces)


@dataclass(frozen=True)
class ClientConfig:
    slug: str
    client: str
    where: str
    text: str


def _json(value: dict) -> str:
    return json.dumps(value, indent=2)


def client_configs() -> list[ClientConfig]:
    """VS Code, Claude Desktop, Cursor and Claude Code, in the form each one reads."""
    url, token = settings.CODER_MCP_URL, TOKEN_PLACEHOLDER
    vscode = {
        "inputs": [
            {
                "type": "promptString",
                "id": "coder-session-token",
                "description": "Coder session token",
                "password": True,
            }
        ],
        "servers": {
            "coder": {"type": "http", "url": url, "headers": {"Coder-Session-Token": "${input:coder-session-token}"}}
        },
    }
    claude_desktop = {
        "mcpServers": {
            "coder": {
                "command": "npx",
                "args": ["-y", "mcp-remote", url, "--header", "Coder-Session-Token:${CODER_SESSION_TOKEN}"],
                "env": {"CODER_SESSION_TOKEN": token},
            }
        }
    }
    cursor = {"mcpServers": {"coder": {"url": url, "headers": {"Coder-Session-Token": token}}}}
    return [
        ClientConfig(
            "vscode",
            "VS Code",
            "Save as .vscode/mcp.json in your project (or run “MCP: Add Server” and pick HTTP). "
            "VS Code asks for the token once and keeps it secret.",
            _json(vscode),
        ),
        ClientConfig(
            "claude-desktop",
            "Claude Desktop",
            "Add to claude_desktop_config.json (Settings › Developer › Edit Config), then restart Claude. "
            "Needs Node.js for mcp-remote.",
            _json(claude_desktop),
        ),
        ClientConfig(
            "cursor", "Cursor", "Add to ~/.cursor/mcp.json (or .cursor/mcp.json in a project).", _json(cursor)
        ),
        ClientConfig(
            "claude-code",
            "Claude Code",
            "Run in a terminal.",
            f'claude mcp add --transport http coder {url} --header "Coder-Session-Token: {token}"',
        ),
    ]


def connect_context() -> dict:
    """What the “Connect an AI assistant” panel shows."""
    return {
        "mcp_url": settings.CODER_MCP_URL,
        "mcp_enabled": experiments.is_enabled(experiments.MCP_SERVER_HTTP),
        "oauth_enabled": experiments.is_enabled(experiments.OAUTH2),
        "configs": client_configs(),
        "token_placeholder": TOKEN_PLACEHOLDER,
    }
