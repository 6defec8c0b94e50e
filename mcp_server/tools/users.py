"""Who the model acts as."""

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from mcp_server.db import run_orm
from mcp_server.tools.base import Shape, annotations, caller, domain_errors, result
from oauth.serializers import user_json


class UserOut(Shape):
    id: int | str
    username: str
    name: str
    email: str
    status: str
    roles: list[dict]
    created_at: str | None
    last_seen_at: str | None


def register(server: MCPServer) -> None:
    @server.tool(
        name="coder_get_authenticated_user",
        description="Get the user you act as: id, username, name, email, roles and status.",
        annotations=annotations("Who am I", read_only=True),
    )
    @domain_errors
    async def coder_get_authenticated_user() -> Annotated[CallToolResult, UserOut]:
        return result(await run_orm(user_json, caller()))
