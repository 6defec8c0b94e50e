"""Reads of the domain. Every function takes the calling user (``actor``) and returns only
what that user may see; anything else is ``NotFound`` (never told apart from "missing")."""

import re
import time
import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from oauth.models import User
from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    Template,
    TemplateVersion,
    TemplateVersionParameter,
    Workspace,
    WorkspaceAgent,
    WorkspaceAgentLog,
    WorkspaceBuild,
)
from workspaces.permissions import visible_workspaces

_WORKSPACE_RELATED = (
    "owner",
    "template",
    "template__active_version",
    "latest_build",
    "latest_build__job",
    "latest_build__initiator",
    "latest_build__template_version",
    "latest_build__agent",
)
_BUILD_RELATED = ("workspace", "workspace__owner", "job", "initiator", "template_version", "agent")


@dataclass(frozen=True)
class WorkspacePage:
    workspaces: list[Workspace]
    count: int


def _as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _uuid_or_not_found(value: object, field: str) -> uuid.UUID:
    parsed = _as_uuid(value)
    if parsed is None:
        raise NotFound(field=field)
    return parsed


def _workspaces(actor: User) -> QuerySet[Workspace]:
    return visible_workspaces(actor).select_related(*_WORKSPACE_RELATED)


def workspace_list_for_user(
    *, actor: User, owner: str | None = "me", name: str | None = None, limit: int | None = None, offset: int = 0
) -> WorkspacePage:
    """Workspaces the actor may see, filtered by owner (``me``, a username or None for all)
    and by a name substring, as Coder's ``owner:`` and ``name:`` filters do."""
    workspaces = _workspaces(actor)
    if owner == "me":
        workspaces = workspaces.filter(owner=actor)
    elif owner:
        workspaces = workspaces.filter(owner__username__iexact=owner)
    if name:
        workspaces = workspaces.filter(name__icontains=name)
    if limit is not None and limit < 0 or offset < 0:
        raise InvalidInput("must not be negative", field="limit" if offset >= 0 else "offset")
    count = workspaces.count()
    page = workspaces[offset : offset + limit] if limit else workspaces[offset:]
    return WorkspacePage(workspaces=list(page), count=count)


_REF_RE = re.compile(r"^(?:(?P<owner>[^/]+)(?:/|--))?(?P<name>[^/.]+)(?:\.(?P<agent>[^/]+))?$")


def workspace_get(*, actor: User, ref: str | uuid.UUID) -> Workspace:
    """A workspace by id or by ``[owner/]name`` (also ``owner--name`` and ``name.agent``);
    a bare name is the actor's own workspace."""
    workspaces = _workspaces(actor)
    workspace_id = _as_uuid(ref)
    if workspace_id is not None:
        found = workspaces.filter(id=workspace_id).first()
    else:
        match = _REF_RE.match(str(ref).strip())
        if not match:
            raise NotFound(f"No workspace {ref!r}: use its id, name or owner/name.", field="workspace")
        owner = match["owner"]
        lookup = {"owner__username__iexact": owner} if owner and owner != "me" else {"owner": actor}
        found = workspaces.filter(name=match["name"], **lookup).first()
    if found is None:
        raise NotFound(field="workspace")
    return found


def template_list(*, actor: User) -> list[Template]:
    """All templates (every signed-in user may read them to pick one)."""
    return list(Template.objects.select_related("active_version", "created_by"))


def template_get(*, actor: User, template_id: str | uuid.UUID) -> Template:
    template_uuid = _uuid_or_not_found(template_id, "template_id")
    template = Template.objects.select_related("active_version", "created_by").filter(id=template_uuid).first()
    if template is None:
        raise NotFound(field="template_id")
    return template


def template_get_by_name(*, actor: User, name: str) -> Template:
    template = Template.objects.select_related("active_version", "created_by").filter(name=name).first()
    if template is None:
        raise NotFound(field="template")
    return template


def template_versions(*, actor: User, template_id: str | uuid.UUID) -> list[TemplateVersion]:
    template = template_get(actor=actor, template_id=template_id)
    return list(template.versions.select_related("job", "created_by", "template"))


def template_version_get(*, actor: User, version_id: str | uuid.UUID) -> TemplateVersion:
    version_uuid = _uuid_or_not_found(version_id, "template_version_id")
    version = TemplateVersion.objects.select_related("job", "created_by", "template").filter(id=version_uuid).first()
    if version is None:
        raise NotFound(field="template_version_id")
    return version


def template_version_parameters(*, actor: User, version_id: str | uuid.UUID) -> list[TemplateVersionParameter]:
    version = template_version_get(actor=actor, version_id=version_id)
    return list(version.parameters.all())


def template_version_logs(*, actor: User, version_id: str | uuid.UUID, after_id: int = 0) -> list[ProvisionerJobLog]:
    version = template_version_get(actor=actor, version_id=version_id)
    return list(version.job.logs.filter(id__gt=after_id))


def template_active_user_count(template: Template) -> int:
    """How many distinct users own a live workspace of this template (Coder's active_user_count)."""
    return template.workspaces.filter(deleted=False).values("owner").distinct().count()


def build_get(*, actor: User, build_id: str | uuid.UUID) -> WorkspaceBuild:
    build_uuid = _uuid_or_not_found(build_id, "workspace_build_id")
    build = (
        WorkspaceBuild.objects.select_related(*_BUILD_RELATED)
        .filter(id=build_uuid, workspace__in=visible_workspaces(actor, include_deleted=True))
        .first()
    )
    if build is None:
        raise NotFound(field="workspace_build_id")
    return build


def build_list(*, actor: User, workspace: Workspace, limit: int | None = None, offset: int = 0) -> list[WorkspaceBuild]:
    workspace = workspace_get(actor=actor, ref=workspace.id)
    builds = workspace.builds.select_related(*_BUILD_RELATED)
    return list(builds[offset : offset + limit] if limit else builds[offset:])


def build_logs(*, actor: User, build_id: str | uuid.UUID, after_id: int = 0) -> list[ProvisionerJobLog]:
    build = build_get(actor=actor, build_id=build_id)
    return list(build.job.logs.filter(id__gt=after_id))


def agent_get(*, actor: User, agent_id: str | uuid.UUID) -> WorkspaceAgent:
    agent_uuid = _uuid_or_not_found(agent_id, "workspace_agent_id")
    agent = (
        WorkspaceAgent.objects.select_related("build", "build__workspace", "build__workspace__owner")
        .filter(id=agent_uuid, build__workspace__in=visible_workspaces(actor, include_deleted=True))
        .first()
    )
    if agent is None:
        raise NotFound(field="workspace_agent_id")
    return agent


def agent_logs(*, actor: User, agent_id: str | uuid.UUID, after_id: int = 0) -> list[WorkspaceAgentLog]:
    agent = agent_get(actor=actor, agent_id=agent_id)
    return list(agent.logs.filter(id__gt=after_id))


def job_is_finished(*, job_id: uuid.UUID) -> bool:
    return ProvisionerJob.objects.filter(id=job_id, status__in=ProvisionerJob.FINISHED).exists()


def build_wait_finished(*, actor: User, build_id: str | uuid.UUID, timeout_s: float) -> WorkspaceBuild:
    """Poll until the build's job has finished; Conflict when the deadline passes first."""
    build = build_get(actor=actor, build_id=build_id)
    deadline = time.monotonic() + timeout_s
    while not job_is_finished(job_id=build.job_id):
        if time.monotonic() > deadline:
            raise Conflict(f"Build {build.build_number} has not finished after {timeout_s:g} s.")
        time.sleep(0.1)
    return build_get(actor=actor, build_id=build_id)


def workspace_wait_ready(*, actor: User, workspace: Workspace, timeout_s: float) -> Workspace:
    """Poll until the latest build finished and, for a start, the agent's startup script ended.

    Returns the fresh workspace; its ``status`` and agent's ``lifecycle_state`` say how it went.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        current = workspace_get(actor=actor, ref=workspace.id)
        build = current.latest_build
        if build is not None and build.job.is_finished:
            agent = getattr(build, "agent", None)
            settled = (WorkspaceAgent.Lifecycle.READY, WorkspaceAgent.Lifecycle.START_ERROR)
            if build.status != "running" or agent is None or agent.lifecycle_state in settled:
                return current
        if time.monotonic() > deadline:
            raise Conflict(f"Workspace {current.name} is not ready after {timeout_s:g} s (status {current.status}).")
        time.sleep(0.1)
