"""Workspaces and their builds: list, inspect, create, start/stop/delete, follow logs."""

import asyncio
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from mcp_server.db import run_orm
from mcp_server.tools.base import Shape, annotations, caller, domain_errors, result
from oauth.models import User
from workspaces import selectors, services
from workspaces.serializers import agent_log_json, build_json, log_json, workspace_json

# How long a tool follows a build before answering with what it has.
FOLLOW_TIMEOUT_S = 600
POLL_INTERVAL_S = 0.25


class WorkspaceSummary(Shape):
    id: str
    name: str
    owner_name: str
    template_id: str
    template_name: str
    template_display_name: str
    template_icon: str
    template_active_version_id: str | None
    outdated: bool
    status: str


class WorkspaceList(Shape):
    workspaces: list[WorkspaceSummary]
    count: int


class Job(Shape):
    id: str
    status: str
    error: str


class Build(Shape):
    id: str
    build_number: int
    transition: str
    status: str
    workspace_id: str
    template_version_id: str
    initiator_name: str
    job: Job
    resources: list[dict]


class Workspace(WorkspaceSummary):
    latest_build: Build | None


class BuildLogs(Shape):
    build: Build
    logs: list[dict] = Field(description="Log lines: id, created_at, log_level, stage, output.")


class AgentLogs(Shape):
    logs: list[dict] = Field(description="Startup script output: id, created_at, level, output.")


SUMMARY_FIELDS = tuple(WorkspaceSummary.model_fields)


def _list(*, actor: User, owner: str) -> dict[str, Any]:
    page = selectors.workspace_list_for_user(actor=actor, owner=None if owner == "all" else owner)
    summaries = [{key: workspace_json(ws)[key] for key in SUMMARY_FIELDS} for ws in page.workspaces]
    return {"workspaces": summaries, "count": page.count}


def _get(*, actor: User, ref: str) -> dict[str, Any]:
    return workspace_json(selectors.workspace_get(actor=actor, ref=ref))


def _create(*, actor: User, **kwargs: Any) -> dict[str, Any]:
    return workspace_json(services.workspace_create(actor=actor, **kwargs))


def _build(*, actor: User, **kwargs: Any) -> dict[str, Any]:
    build = services.workspace_build_create(actor=actor, **kwargs)
    return build_json(selectors.build_get(actor=actor, build_id=build.id))


def _build_progress(*, actor: User, build_id: str, after_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    build = selectors.build_get(actor=actor, build_id=build_id)
    return build_json(build), [
        log_json(line) for line in selectors.build_logs(actor=actor, build_id=build_id, after_id=after_id)
    ]


def _agent_logs(*, actor: User, agent_id: str) -> dict[str, Any]:
    return {"logs": [agent_log_json(line) for line in selectors.agent_logs(actor=actor, agent_id=agent_id)]}


async def follow_build(ctx: Context, *, actor: User, build_id: str, report: bool) -> dict[str, Any]:
    """Read a build's log rows until its job finishes, relaying them as log (and progress) notifications.

    The rows are the source of truth, so this works whichever worker runs the job.
    """
    logs: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + FOLLOW_TIMEOUT_S
    while True:
        build, new = await run_orm(
            _build_progress, actor=actor, build_id=build_id, after_id=logs[-1]["id"] if logs else 0
        )
        for line in new:
            await ctx.log(
                "error" if line["log_level"] == "error" else "info", line["output"], logger_name="coder.build"
            )
            if report:
                await ctx.report_progress(len(logs) + 1, None, line["output"][:200])
        logs += new
        finished = build["job"]["completed_at"] is not None
        if finished or asyncio.get_running_loop().time() > deadline:
            if report:
                await ctx.report_progress(
                    len(logs), len(logs), f"Build {build['build_number']} {build['job']['status']}"
                )
            return {"build": build, "logs": logs}
        await asyncio.sleep(POLL_INTERVAL_S)


def progress_requested(ctx: Context) -> bool:
    """Whether the client asked for progress notifications (it sent a progress token)."""
    meta = ctx.request_context.meta or {}
    return meta.get("progress_token") is not None


def register(server: MCPServer) -> None:
    @server.tool(
        name="coder_list_workspaces",
        description="List workspaces you can see, with their status and template.",
        annotations=annotations("List workspaces", read_only=True),
    )
    @domain_errors
    async def coder_list_workspaces(
        owner: Annotated[
            str, Field(description='Whose workspaces: "me" (default), a username, or "all" for every one you may see.')
        ] = "me",
    ) -> Annotated[CallToolResult, WorkspaceList]:
        return result(await run_orm(_list, actor=caller(), owner=owner))

    @server.tool(
        name="coder_get_workspace",
        description="Get a workspace with its latest build and agent (status, lifecycle, directory).",
        annotations=annotations("Get workspace", read_only=True),
    )
    @domain_errors
    async def coder_get_workspace(
        workspace_id: Annotated[str, Field(description="The workspace id (UUID), name, or owner/name.", min_length=1)],
    ) -> Annotated[CallToolResult, Workspace]:
        return result(await run_orm(_get, actor=caller(), ref=workspace_id))

    @server.tool(
        name="coder_create_workspace",
        description=(
            "Create a workspace from a template version and queue its first start build. Find the version with "
            "coder_list_templates (active_version_id) and its parameters with coder_template_version_parameters."
        ),
        annotations=annotations("Create workspace", read_only=False),
    )
    @domain_errors
    async def coder_create_workspace(
        user: Annotated[str, Field(description='The owner: "me" or a username (owners only).')],
        template_version_id: Annotated[str, Field(description="The template version (UUID) to build from.")],
        name: Annotated[
            str, Field(description="A name unique among the owner's workspaces: letters, digits, single hyphens.")
        ],
        rich_parameters: Annotated[
            dict[str, str],
            Field(description="Values for the template version's parameters, by name ({} when it has none)."),
        ],
    ) -> Annotated[CallToolResult, Workspace]:
        return result(
            await run_orm(
                _create,
                actor=caller(),
                owner=user,
                template_version_id=template_version_id,
                name=name,
                rich_parameters=rich_parameters,
            )
        )

    @server.tool(
        name="coder_create_workspace_build",
        description=(
            "Start, stop or delete a workspace (or update it: start with a new template_version_id). "
            "With a progress token the call follows the build and streams its logs; without one it returns "
            "the queued build (follow it with coder_get_workspace_build_logs)."
        ),
        annotations=annotations("Start, stop or delete workspace", read_only=False, destructive=True),
    )
    @domain_errors
    async def coder_create_workspace_build(
        workspace_id: Annotated[str, Field(description="The workspace id (UUID), name, or owner/name.", min_length=1)],
        transition: Annotated[Literal["start", "stop", "delete"], Field(description="What to do with the workspace.")],
        ctx: Context,
        template_version_id: Annotated[
            str | None, Field(description="With start: update the workspace to this template version.")
        ] = None,
    ) -> Annotated[CallToolResult, Build]:
        actor = caller()
        build = await run_orm(
            _build, actor=actor, workspace=workspace_id, transition=transition, template_version_id=template_version_id
        )
        if progress_requested(ctx):
            build = (await follow_build(ctx, actor=actor, build_id=build["id"], report=True))["build"]
        return result(build)

    @server.tool(
        name="coder_get_workspace_build_logs",
        description="Get a build's logs; follows the build until it finishes, streaming the lines as log messages.",
        annotations=annotations("Build logs", read_only=True),
    )
    @domain_errors
    async def coder_get_workspace_build_logs(
        workspace_build_id: Annotated[str, Field(description="The build id (latest_build.id of a workspace).")],
        ctx: Context,
    ) -> Annotated[CallToolResult, BuildLogs]:
        return result(
            await follow_build(ctx, actor=caller(), build_id=workspace_build_id, report=progress_requested(ctx))
        )

    @server.tool(
        name="coder_get_workspace_agent_logs",
        description="Get the output of a workspace agent's startup script.",
        annotations=annotations("Agent logs", read_only=True),
    )
    @domain_errors
    async def coder_get_workspace_agent_logs(
        workspace_agent_id: Annotated[
            str, Field(description="The agent id (latest_build.resources[].agents[].id of a workspace).")
        ],
    ) -> Annotated[CallToolResult, AgentLogs]:
        return result(await run_orm(_agent_logs, actor=caller(), agent_id=workspace_agent_id))
