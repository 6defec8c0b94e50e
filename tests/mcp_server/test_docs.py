"""docs/mcp-server.md stays true: the tool table is the registry's, the messages are the server's."""

import asyncio
from io import StringIO

from django.core.management import call_command

from coderproject import experiments
from mcp_server import asgi
from mcp_server.management.commands.mcp_tools import tool_reference
from mcp_server.tools.agent import START_HINT
from oauth.authentication import SIGNED_OUT_MESSAGE, missing_token_error
from oauth.connect import client_configs
from tests.helpers import ROOT

GUIDE = ROOT / "docs" / "mcp-server.md"


def test_tool_table_is_generated_from_the_registry():
    out = StringIO()
    call_command("mcp_tools", stdout=out)
    assert out.getvalue().strip() == tool_reference()
    assert "| `coder_workspace_bash` | `workspace`*, `command`*, `timeout_ms`, `background` |" in out.getvalue()
    assert tool_reference() in GUIDE.read_text(), "regenerate the table: manage.py mcp_tools"


def test_client_configurations_match_the_connect_panel():
    guide = GUIDE.read_text()
    for config in client_configs():
        assert config.text in guide, config.client


def test_troubleshooting_quotes_what_the_server_says():
    guide = GUIDE.read_text()
    messages = [
        SIGNED_OUT_MESSAGE,
        missing_token_error().detail,
        experiments.disabled_message(experiments.MCP_SERVER_HTTP),
        asgi.INVALID_HOST,
        asgi.ORIGIN_NOT_ALLOWED,
        asgi.ORIGIN_HINT,
        asgi.INVALID_TOOLSET.format("X"),
        asgi.NOT_RUNNING,
        "Session not found",  # the SDK's own 404 body
        START_HINT.split(",")[0],
    ]
    for message in messages:
        assert message in guide, message


def test_the_readme_shows_the_inspector_command():
    # 1.0.3: the last CLI with --header that keeps the URL's path (2.x posts to /mcp).
    command = "npx @modelcontextprotocol/inspector@1.0.3 --cli http://127.0.0.1:3000/api/experimental/mcp/http"
    assert command in (ROOT / "README.md").read_text() and command in GUIDE.read_text()


def test_the_streaming_tools_named_in_the_guide_are_the_registry_s():
    """The guide says which calls answer with SSE: exactly the tools that take a Context."""
    from mcp_server.lifecycle import quiet_tools
    from mcp_server.server import build_server

    server = build_server()
    streaming = sorted({tool.name for tool in asyncio.run(server.list_tools())} - quiet_tools(server))
    named = ", ".join(f"`{name}`" for name in streaming[:-1]) + f" and `{streaming[-1]}`"
    assert f"(all but {named})" in " ".join(GUIDE.read_text().split())
