"""Templates: list them, read a version's parameters, and author new versions from files."""

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from mcp_server.db import run_orm
from mcp_server.tools.base import Shape, annotations, caller, domain_errors, result
from oauth.models import User
from workspaces import selectors, services
from workspaces.manifest import archive_from_files
from workspaces.serializers import file_json, log_json, parameter_json, template_json, template_version_json

TemplateId = Annotated[str, Field(description="The template id (UUID), from coder_list_templates.")]
VersionId = Annotated[str, Field(description="The template version id (UUID).")]


class TemplateSummary(Shape):
    id: str
    name: str
    display_name: str
    description: str
    active_version_id: str | None
    active_user_count: int


class TemplateList(Shape):
    templates: list[TemplateSummary]


class Parameter(Shape):
    name: str
    display_name: str
    description: str
    type: str
    default_value: str
    mutable: bool
    required: bool
    options: list[dict]
    validation: dict


class ParameterList(Shape):
    parameters: list[Parameter]


class UploadedFile(Shape):
    hash: str = Field(description="The uploaded file's id: pass it as file_id to coder_create_template_version.")


class TemplateVersion(Shape):
    id: str
    template_id: str | None
    name: str
    job: dict


class VersionLogs(Shape):
    logs: list[dict]


class Template(TemplateSummary):
    pass


class Deleted(Shape):
    message: str


SUMMARY_FIELDS = tuple(TemplateSummary.model_fields)


def _list(*, actor: User) -> dict[str, Any]:
    templates = [{key: template_json(t)[key] for key in SUMMARY_FIELDS} for t in selectors.template_list(actor=actor)]
    return {"templates": templates}


def _parameters(*, actor: User, version_id: str) -> dict[str, Any]:
    parameters = selectors.template_version_parameters(actor=actor, version_id=version_id)
    return {"parameters": [parameter_json(p) for p in parameters]}


def _upload(*, actor: User, files: dict[str, str]) -> dict[str, Any]:
    return file_json(services.file_upload(actor=actor, data=archive_from_files(files)))


def _version_create(*, actor: User, file_id: str, template_id: str | None) -> dict[str, Any]:
    version = services.template_version_create(actor=actor, file_id=file_id, template_id=template_id)
    return template_version_json(selectors.template_version_get(actor=actor, version_id=version.id))


def _version_logs(*, actor: User, version_id: str) -> dict[str, Any]:
    return {"logs": [log_json(line) for line in selectors.template_version_logs(actor=actor, version_id=version_id)]}


def _template_create(*, actor: User, **kwargs: Any) -> dict[str, Any]:
    return template_json(services.template_create(actor=actor, **kwargs))


def _activate(*, actor: User, template_id: str, version_id: str) -> dict[str, Any]:
    template = services.template_update_active_version(actor=actor, template_id=template_id, version_id=version_id)
    return template_json(template)


def _delete(*, actor: User, template_id: str) -> dict[str, Any]:
    name = selectors.template_get(actor=actor, template_id=template_id).name
    services.template_delete(actor=actor, template_id=template_id)
    return {"message": f"Deleted template {name}."}


def register(server: MCPServer) -> None:
    @server.tool(
        name="coder_list_templates",
        description="List templates; create a workspace from one's active_version_id.",
        annotations=annotations("List templates", read_only=True),
    )
    @domain_errors
    async def coder_list_templates() -> Annotated[CallToolResult, TemplateList]:
        return result(await run_orm(_list, actor=caller()))

    @server.tool(
        name="coder_template_version_parameters",
        description="List the parameters a template version takes (pass their values as rich_parameters).",
        annotations=annotations("Template parameters", read_only=True),
    )
    @domain_errors
    async def coder_template_version_parameters(
        template_version_id: VersionId,
    ) -> Annotated[CallToolResult, ParameterList]:
        return result(await run_orm(_parameters, actor=caller(), version_id=template_version_id))

    @server.tool(
        name="coder_upload_tar_file",
        description=(
            "Upload template files (a template.toml manifest and the files to lay in the home directory) "
            "as a tar archive; returns its id as `hash` for coder_create_template_version."
        ),
        annotations=annotations("Upload template files", read_only=False, idempotent=True),
    )
    @domain_errors
    async def coder_upload_tar_file(
        files: Annotated[
            dict[str, str], Field(description="File contents by relative path, e.g. {'template.toml': '...'}.")
        ],
    ) -> Annotated[CallToolResult, UploadedFile]:
        return result(await run_orm(_upload, actor=caller(), files=files))

    @server.tool(
        name="coder_create_template_version",
        description="Import uploaded files as a template version (a job; see coder_get_template_version_logs).",
        annotations=annotations("Create template version", read_only=False),
    )
    @domain_errors
    async def coder_create_template_version(
        file_id: Annotated[str, Field(description="The `hash` returned by coder_upload_tar_file.")],
        template_id: Annotated[
            str | None, Field(description="The template the version belongs to (omit for a new template).")
        ] = None,
    ) -> Annotated[CallToolResult, TemplateVersion]:
        return result(await run_orm(_version_create, actor=caller(), file_id=file_id, template_id=template_id))

    @server.tool(
        name="coder_get_template_version_logs",
        description="Get the import logs of a template version.",
        annotations=annotations("Template version logs", read_only=True),
    )
    @domain_errors
    async def coder_get_template_version_logs(template_version_id: VersionId) -> Annotated[CallToolResult, VersionLogs]:
        return result(await run_orm(_version_logs, actor=caller(), version_id=template_version_id))

    @server.tool(
        name="coder_create_template",
        description="Create a template whose active version is an imported template version.",
        annotations=annotations("Create template", read_only=False),
    )
    @domain_errors
    async def coder_create_template(
        name: Annotated[str, Field(description="A unique name: letters, digits, single hyphens.")],
        display_name: Annotated[str, Field(description="The name people see.")],
        description: Annotated[str, Field(description="What the template gives you.")],
        version_id: Annotated[str, Field(description="The imported template version (UUID) to activate.")],
        icon: Annotated[str, Field(description="An icon URL or path.")] = "",
    ) -> Annotated[CallToolResult, Template]:
        return result(
            await run_orm(
                _template_create,
                actor=caller(),
                name=name,
                display_name=display_name,
                description=description,
                version_id=version_id,
                icon=icon,
            )
        )

    @server.tool(
        name="coder_update_template_active_version",
        description="Make an imported version the one new workspaces (and updates) get.",
        annotations=annotations("Activate template version", read_only=False, idempotent=True),
    )
    @domain_errors
    async def coder_update_template_active_version(
        template_id: TemplateId, template_version_id: VersionId
    ) -> Annotated[CallToolResult, Template]:
        return result(await run_orm(_activate, actor=caller(), template_id=template_id, version_id=template_version_id))

    @server.tool(
        name="coder_delete_template",
        description="Delete a template and its versions; refused while workspaces use it.",
        annotations=annotations("Delete template", read_only=False, destructive=True, idempotent=True),
    )
    @domain_errors
    async def coder_delete_template(template_id: TemplateId) -> Annotated[CallToolResult, Deleted]:
        return result(await run_orm(_delete, actor=caller(), template_id=template_id))
