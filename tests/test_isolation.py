"""The isolation matrix, generated from the registries: every MCP tool the server lists and
every /api/v2 route Django resolves, for each actor that must not touch another member's
workspace. A new tool or route joins the matrix by itself; one with an argument the matrix
cannot fill fails here until it is taught what to send.

- member (another member) and template-admin: cannot read, change or run anything in it;
- auditor: can read it, cannot change or run anything in it.
Afterwards the victim's workspace, files, builds and tokens are exactly as before.
"""

import base64
import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from oauth.models import APIKey
from oauth.services import api_key_create
from tests.conftest import make_user
from tests.mcp_server.conftest import MCP_PATH, mcp_client, token_headers
from tests.workspaces.conftest import run_jobs, starter, workspaces_dir  # noqa: F401 (shared fixtures)
from workspaces.models import Workspace
from workspaces.runtime.local import workspace_directory
from workspaces.services import workspace_create

SECRET = "victim-secret-3f9a"
ACTORS = ("member", "template-admin", "auditor")
# Arguments that name something of the victim's workspace.
VICTIM_ARGUMENTS = {"workspace", "workspace_id", "workspace_build_id", "workspace_agent_id"}
VICTIM_PARAMS = {"workspace_id", "build_id", "agent_id", "key_id", "user"}


@pytest.fixture
def victim(member, starter):  # noqa: F811
    """The member's running workspace holding a secret file, built before the server forks."""
    workspace = workspace_create(
        actor=member, owner="me", template_version_id=starter.active_version_id, name="dev", rich_parameters={}
    )
    run_jobs()
    workspace.refresh_from_db()
    (workspace_directory(workspace.id) / "secret.txt").write_text(SECRET)
    key, _raw = api_key_create(actor=member, user=member, name="victim-key")
    build = workspace.latest_build
    return {
        "workspace": workspace,
        "build": build,
        "agent": build.agent,
        "key": key,
        "template": starter,
    }


@pytest.fixture
def actors(victim):
    return {
        "member": make_user("mallory", name="Another Member"),
        "template-admin": make_user("tess", "template-admin"),
        "auditor": make_user("audrey", "auditor"),
    }


def tool_arguments(tool, victim, member) -> dict:
    """Arguments aimed at the victim, for every property of the tool's input schema."""
    workspace = victim["workspace"]
    known = {
        "workspace": f"{member.username}/{workspace.name}",
        "workspace_id": str(workspace.id),
        "workspace_build_id": str(victim["build"].id),
        "workspace_agent_id": str(victim["agent"].id),
        "path": "~" if tool.name == "coder_workspace_ls" else "~/secret.txt",
        "command": "cat secret.txt; echo pwned > pwned.txt",
        "content": base64.b64encode(b"pwned").decode(),
        "edits": [{"search": SECRET, "replace": "pwned"}],
        "files": [{"path": "~/secret.txt", "edits": [{"search": SECRET, "replace": "pwned"}]}],
        "transition": "delete",
        "timeout_ms": 10_000,
        "background": False,
        "offset": 0,
        "limit": 1000,
        "owner": member.username,
        "user": member.username,
        "name": "intruder",
        "rich_parameters": {},
        "template_version_id": str(victim["template"].active_version_id),
        "template_id": str(victim["template"].id),
        "version_id": str(victim["template"].active_version_id),
        "template_version_id_or_name": str(victim["template"].active_version_id),
        "file_id": "00000000-0000-0000-0000-000000000000",
        "display_name": "x",
        "description": "x",
        "icon": "",
        "mimetype": "application/x-tar",
        "files_b64": "",
        "data": "",
    }
    schema = tool.input_schema
    unknown = [name for name in schema.get("properties", {}) if name not in known]
    assert not unknown, f"teach the isolation matrix what to send for {tool.name}({', '.join(unknown)})"
    return {name: known[name] for name in schema.get("properties", {})}


@pytest.fixture
def mcp_on(enable_experiments) -> None:
    enable_experiments("mcp-server-http")


def test_mcp_tools(victim, actors, member, mcp_on, daphne_server, capsys):
    url = daphne_server + MCP_PATH
    before = victim_state(victim)
    cells = []

    async def play(actor_name, headers):
        async with mcp_client(url, headers=headers) as client:
            tools = (await client.list_tools()).tools
            for tool in tools:
                arguments = tool_arguments(tool, victim, member)
                result = await client.call_tool(tool.name, arguments)
                cells.append((actor_name, tool, arguments, result))

    for actor_name in ACTORS:
        async_to_sync(play)(actor_name, token_headers(actors[actor_name]))

    for actor_name, tool, arguments, result in cells:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        aims_at_victim = bool(VICTIM_ARGUMENTS & set(arguments))
        reads = bool(tool.annotations and tool.annotations.read_only_hint)
        where = f"{actor_name} × {tool.name}: {text[:200]}"
        if aims_at_victim and not (reads and actor_name == "auditor"):
            assert result.is_error, "must be refused: " + where
        if aims_at_victim and reads and actor_name == "auditor":
            assert not result.is_error, "the auditor reads: " + where
        if actor_name != "auditor":
            assert SECRET not in text and str(victim["workspace"].id) not in text, "leaked: " + where
    assert victim_state(victim) == before
    with capsys.disabled():
        print(
            f"\nisolation matrix (MCP): {len(ACTORS)} actors x {len(cells) // len(ACTORS)} tools = {len(cells)} cells"
        )


def api_routes() -> list[tuple[str, str, type]]:
    """(route, name, view class) of every /api/v2 URL, from Django's resolver."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/v2/"):
                    found.append((route, pattern.name, pattern.callback.cls))

    walk(get_resolver().url_patterns)
    return found


def methods_of(view_class) -> list[str]:
    return [
        m
        for m in ("get", "post", "put", "patch", "delete")
        if m in view_class.http_method_names and hasattr(view_class, m)
    ]


def route_path(route: str, victim, member) -> tuple[str, set[str]]:
    values = {
        "workspace_id": str(victim["workspace"].id),
        "build_id": str(victim["build"].id),
        "agent_id": str(victim["agent"].id),
        "key_id": victim["key"].id,
        "user": member.username,
        "name": victim["workspace"].name if "workspace/" in route else victim["key"].name,
        "template_id": str(victim["template"].id),
        "version_id": str(victim["template"].active_version_id),
    }
    params = set(re.findall(r"<(?:\w+:)?(\w+)>", route))
    unknown = params - set(values)
    assert not unknown, f"teach the isolation matrix what to send for /{route} ({', '.join(unknown)})"
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route), params


def test_rest_routes(victim, actors, member, capsys):
    before = victim_state(victim)
    body = {
        "transition": "delete",
        "name": "intruder",
        "template_version_id": str(victim["template"].active_version_id),
        "rich_parameter_values": [],
        "token_name": "intruder",
    }
    cells = 0
    for actor_name in ACTORS:
        client = Client()
        client.force_login(actors[actor_name])
        for route, name, view_class in api_routes():
            path, params = route_path(route, victim, member)
            aims_at_victim = bool(VICTIM_PARAMS & params)
            workspace_read = bool(params & {"workspace_id", "build_id", "agent_id"}) or "workspace/" in route
            for method in methods_of(view_class):
                if not aims_at_victim and method != "get":
                    continue  # shared resources (templates, files) are not the victim's
                if method == "get":
                    response = client.get(path)
                else:
                    response = getattr(client, method)(path, data=json.dumps(body), content_type="application/json")
                cells += 1
                where = f"{actor_name} × {method.upper()} {path} ({name}): {response.status_code}"
                assert response.status_code < 500, where
                text = response.content.decode(errors="replace")
                if aims_at_victim and method == "get" and actor_name == "auditor" and workspace_read:
                    assert response.status_code == 200, "the auditor reads: " + where
                elif aims_at_victim:
                    assert response.status_code in (403, 404, 405), "must be refused: " + where
                if actor_name != "auditor" and name != "openapi":
                    assert str(victim["workspace"].id) not in text, "leaked: " + where
                assert victim["key"].hashed_secret not in text
    assert victim_state(victim) == before
    with capsys.disabled():
        print(f"\nisolation matrix (REST): {len(ACTORS)} actors, {len(api_routes())} routes = {cells} cells")


def victim_state(victim) -> dict:
    workspace = Workspace.objects.get(pk=victim["workspace"].pk)
    directory = workspace_directory(workspace.id)
    return {
        "deleted": workspace.deleted,
        "latest_build": workspace.latest_build_id,
        "builds": workspace.builds.count(),
        "secret": (directory / "secret.txt").read_text(),
        "files": sorted(p.name for p in directory.iterdir()),
        "tokens": list(APIKey.objects.filter(user=workspace.owner).values_list("id", flat=True)),
        "workspaces": list(Workspace.objects.filter(owner=workspace.owner).values_list("name", flat=True)),
    }
