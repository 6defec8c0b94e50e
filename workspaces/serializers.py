"""The domain as Coder's API shows it: one set of JSON shapes for REST and MCP.

Plain functions of already-loaded objects (selectors ``select_related`` what they read);
field names and values follow Coder's ``codersdk`` types.
"""

from typing import Any

from oauth.serializers import iso
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    Template,
    TemplateVersion,
    TemplateVersionParameter,
    UploadedFile,
    Workspace,
    WorkspaceAgent,
    WorkspaceAgentLog,
    WorkspaceBuild,
)
from workspaces.selectors import template_active_user_count


def _id(value: Any) -> str | None:
    return str(value) if value else None


def file_json(upload: UploadedFile) -> dict[str, Any]:
    """Coder answers an upload with the file id under the name ``hash``."""
    return {"hash": str(upload.id)}


def job_json(job: ProvisionerJob) -> dict[str, Any]:
    input_ids: dict[str, str] = {}
    if job.type == ProvisionerJob.Type.WORKSPACE_BUILD and hasattr(job, "workspace_build"):
        input_ids["workspace_build_id"] = str(job.workspace_build.id)
    elif hasattr(job, "template_version"):
        input_ids["template_version_id"] = str(job.template_version.id)
    return {
        "id": str(job.id),
        "type": job.type,
        "status": job.status,
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "canceled_at": iso(job.canceled_at),
        "worker_id": job.worker_id,
        "file_id": _id(job.file_id),
        "input": input_ids,
        "tags": {},
    }


def log_json(line: ProvisionerJobLog) -> dict[str, Any]:
    return {
        "id": line.id,
        "created_at": iso(line.created_at),
        "log_source": "provisioner",
        "log_level": line.level,
        "stage": line.stage,
        "output": line.output,
    }


def agent_log_json(line: WorkspaceAgentLog) -> dict[str, Any]:
    return {
        "id": line.id,
        "created_at": iso(line.created_at),
        "output": line.output,
        "level": line.level,
        "source": line.source,
    }


def agent_json(agent: WorkspaceAgent) -> dict[str, Any]:
    healthy = agent.status == WorkspaceAgent.Status.CONNECTED and agent.lifecycle_state != "start_error"
    return {
        "id": str(agent.id),
        "name": agent.name,
        "status": agent.status,
        "lifecycle_state": agent.lifecycle_state,
        "directory": agent.directory,
        "expanded_directory": agent.directory,
        "operating_system": "linux",
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
        "first_connected_at": iso(agent.first_connected_at),
        "started_at": iso(agent.started_at),
        "ready_at": iso(agent.ready_at),
        "health": {
            "healthy": healthy,
            "reason": "" if healthy else f"agent is {agent.status}, {agent.lifecycle_state}",
        },
    }


def build_json(build: WorkspaceBuild) -> dict[str, Any]:
    workspace = build.workspace
    agent = getattr(build, "agent", None)
    return {
        "id": str(build.id),
        "build_number": build.build_number,
        "transition": build.transition,
        "status": build.status,
        "workspace_id": str(workspace.id),
        "workspace_name": workspace.name,
        "workspace_owner_id": workspace.owner_id,
        "workspace_owner_name": workspace.owner.username,
        "template_version_id": str(build.template_version_id),
        "template_version_name": build.template_version.name,
        "initiator_id": build.initiator_id,
        "initiator_name": build.initiator.username if build.initiator else "",
        "reason": "initiator",
        "job": job_json(build.job),
        "resources": [
            {
                "id": str(build.id),
                "name": "workspace",
                "type": "local_workspace",
                "agents": [agent_json(agent)] if agent is not None else [],
            }
        ],
        "created_at": iso(build.created_at),
        "updated_at": iso(build.updated_at),
    }


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    template = workspace.template
    build = workspace.latest_build
    agent = getattr(build, "agent", None) if build else None
    healthy = agent is None or agent_json(agent)["health"]["healthy"]
    return {
        "id": str(workspace.id),
        "name": workspace.name,
        "owner_id": workspace.owner_id,
        "owner_name": workspace.owner.username,
        "template_id": str(template.id),
        "template_name": template.name,
        "template_display_name": template.display_name,
        "template_icon": template.icon,
        "template_active_version_id": _id(template.active_version_id),
        "outdated": bool(
            build and template.active_version_id and build.template_version_id != template.active_version_id
        ),
        "status": workspace.status,
        "latest_build": build_json(build) if build else None,
        "health": {"healthy": healthy, "failing_agents": [] if healthy else [str(agent.id)]},
        "created_at": iso(workspace.created_at),
        "updated_at": iso(workspace.updated_at),
        "last_used_at": iso(workspace.last_used_at or workspace.updated_at),
    }


def template_json(template: Template) -> dict[str, Any]:
    return {
        "id": str(template.id),
        "name": template.name,
        "display_name": template.display_name,
        "description": template.description,
        "icon": template.icon,
        "active_version_id": _id(template.active_version_id),
        "active_user_count": template_active_user_count(template),
        "deprecated": template.deprecated,
        "provisioner": "local",
        "created_by_id": template.created_by_id,
        "created_by_name": template.created_by.username if template.created_by else "",
        "created_at": iso(template.created_at),
        "updated_at": iso(template.updated_at),
    }


def template_version_json(version: TemplateVersion) -> dict[str, Any]:
    creator = version.created_by
    return {
        "id": str(version.id),
        "template_id": _id(version.template_id),
        "name": version.name,
        "message": version.message,
        "job": job_json(version.job),
        "created_by": {"id": creator.pk, "username": creator.username, "name": creator.name} if creator else None,
        "created_at": iso(version.created_at),
        "updated_at": iso(version.updated_at),
        "readme": "",
        "archived": False,
        "warnings": [],
    }


def parameter_json(parameter: TemplateVersionParameter) -> dict[str, Any]:
    validation = {
        "regex": parameter.validation_regex,
        "min": parameter.validation_min,
        "max": parameter.validation_max,
        "error": parameter.validation_error,
    }
    return {
        "name": parameter.name,
        "display_name": parameter.display_name,
        "description": parameter.description,
        "type": parameter.type,
        "default_value": parameter.default_value,
        "mutable": parameter.mutable,
        "required": parameter.required,
        "ephemeral": False,
        "options": [{**option, "icon": ""} for option in parameter.options],
        "validation_regex": parameter.validation_regex,
        "validation_min": parameter.validation_min,
        "validation_max": parameter.validation_max,
        "validation_error": parameter.validation_error,
        "validation": validation,
    }
