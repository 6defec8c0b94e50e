"""Writes of the domain: uploads, template versions and templates, workspaces and builds.

Every function takes the calling user (``actor``), checks what that user may do, validates
the input with field-level ``InvalidInput`` errors, and queues provisioner jobs; the work
itself (imports, builds) happens in ``workspaces.provisioner``.
"""

import hashlib
import json
import os
import re
import secrets
import socket
import uuid
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from oauth import roles
from oauth.models import User
from workspaces import provisioner
from workspaces.errors import Conflict, Forbidden, InvalidInput, NotFound
from workspaces.manifest import (
    MAX_ARCHIVE_BYTES,
    ManifestError,
    archive_from_files,
    parameter_value_error,
    read_archive_manifest,
)
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
from workspaces.permissions import first_site_owner, require_template_admin, require_workspace_action
from workspaces.selectors import build_get, template_get, template_version_get, workspace_get

NAME_RE = re.compile(r"^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$")
NAME_MAX = 32
STARTER_TEMPLATE_NAME = "starter"
STARTER_TEMPLATE_DIR = Path(__file__).resolve().parent / "starter_template"


def _check_name(name: str, *, field: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput("A name is required.", field=field)
    if len(name) > NAME_MAX or not NAME_RE.match(name):
        raise InvalidInput(
            f"Must be at most {NAME_MAX} letters, digits and single hyphens, e.g. 'my-workspace'.", field=field
        )
    return name


def _queue_job(*, type: str, initiator: User | None, file: UploadedFile | None = None) -> ProvisionerJob:
    job = ProvisionerJob.objects.create(type=type, initiator=initiator, file=file)
    transaction.on_commit(provisioner.notify_job_queued)
    return job


def _require_imported(version: TemplateVersion, *, field: str) -> None:
    """A version is usable once its import job succeeded."""
    status = version.job.status
    if status == ProvisionerJob.Status.SUCCEEDED:
        return
    if status in (ProvisionerJob.Status.PENDING, ProvisionerJob.Status.RUNNING):
        raise Conflict(
            f"Template version {version.name} is still importing ({status}); try again when its job has finished."
        )
    raise InvalidInput(f"Template version {version.name} failed to import: {version.job.error}", field=field)


# ---------------------------------------------------------------------------
# Files, template versions, templates
# ---------------------------------------------------------------------------


def file_upload(*, actor: User, data: bytes, mimetype: str = "application/x-tar") -> UploadedFile:
    """Store an archive for a template version; the same bytes from the same user are stored once."""
    require_template_admin(actor)
    if not data:
        raise InvalidInput("The upload is empty.", field="file")
    if len(data) > MAX_ARCHIVE_BYTES:
        raise InvalidInput(f"The upload is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB.", field="file")
    digest = hashlib.sha256(data).hexdigest()
    existing = UploadedFile.objects.filter(hash=digest, created_by=actor).first()
    if existing is not None:
        return existing
    return UploadedFile.objects.create(hash=digest, data=data, mimetype=mimetype, created_by=actor)


@transaction.atomic
def template_version_create(
    *,
    actor: User,
    file_id: str | uuid.UUID,
    template_id: str | uuid.UUID | None = None,
    name: str = "",
    message: str = "",
) -> TemplateVersion:
    """Check the archive's manifest now (a clear 400 beats a failed job) and queue its import."""
    require_template_admin(actor)
    try:
        upload = UploadedFile.objects.filter(id=uuid.UUID(str(file_id))).first()
    except ValueError:
        upload = None
    if upload is None:
        raise NotFound("No uploaded file with this id; upload the archive first.", field="file_id")
    try:
        manifest = read_archive_manifest(bytes(upload.data))
    except ManifestError as exc:
        raise InvalidInput(str(exc), field="file_id") from None
    template = template_get(actor=actor, template_id=template_id) if template_id else None
    job = _queue_job(type=ProvisionerJob.Type.TEMPLATE_VERSION_IMPORT, initiator=actor, file=upload)
    return TemplateVersion.objects.create(
        template=template,
        name=name or f"v-{secrets.token_hex(4)}",
        message=message,
        file=upload,
        manifest=manifest.as_json(),
        job=job,
        created_by=actor,
    )


def _version_for_template(*, actor: User, version_id: str | uuid.UUID, template: Template | None) -> TemplateVersion:
    version = template_version_get(actor=actor, version_id=version_id)
    if version.template_id is not None and (template is None or version.template_id != template.id):
        raise InvalidInput("This template version belongs to another template.", field="version_id")
    _require_imported(version, field="version_id")
    return version


@transaction.atomic
def template_create(
    *,
    actor: User,
    name: str,
    display_name: str,
    description: str,
    version_id: str | uuid.UUID,
    icon: str = "",
) -> Template:
    """A template whose active version is ``version_id`` (an imported version no template owns yet)."""
    require_template_admin(actor)
    _check_name(name)
    if Template.objects.filter(name=name).exists():
        raise InvalidInput(f"A template named {name!r} already exists.", field="name")
    version = _version_for_template(actor=actor, version_id=version_id, template=None)
    manifest = version.manifest
    template = Template.objects.create(
        name=name,
        display_name=display_name or manifest.get("display_name", ""),
        description=description or manifest.get("description", ""),
        icon=icon or manifest.get("icon", ""),
        active_version=version,
        created_by=actor,
    )
    version.template = template
    version.save(update_fields=["template", "updated_at"])
    return template


@transaction.atomic
def template_update_active_version(
    *, actor: User, template_id: str | uuid.UUID, version_id: str | uuid.UUID
) -> Template:
    """Make an imported version the one new workspaces get."""
    require_template_admin(actor)
    template = template_get(actor=actor, template_id=template_id)
    version = _version_for_template(actor=actor, version_id=version_id, template=template)
    if version.template_id is None:
        version.template = template
        version.save(update_fields=["template", "updated_at"])
    template.active_version = version
    template.save(update_fields=["active_version", "updated_at"])
    return template


@transaction.atomic
def template_delete(*, actor: User, template_id: str | uuid.UUID) -> None:
    """Delete a template and its versions; refused while a live workspace uses it."""
    require_template_admin(actor)
    template = template_get(actor=actor, template_id=template_id)
    live = template.workspaces.filter(deleted=False).count()
    if live:
        raise Conflict(f"Template {template.name} is used by {live} workspace(s); delete them first.")
    jobs = list(
        ProvisionerJob.objects.filter(
            Q(template_version__template=template) | Q(workspace_build__workspace__template=template)
        ).values_list("id", flat=True)
    )
    template.workspaces.all().delete()
    template.active_version = None
    template.save(update_fields=["active_version"])
    template.delete()
    ProvisionerJob.objects.filter(id__in=jobs).delete()


def template_push(
    *, actor: User, name: str, archive: bytes, message: str = ""
) -> tuple[Template, TemplateVersion, bool]:
    """Create the template or add a version and activate it, importing right away.

    Returns ``(template, version, changed)``; pushing the active version's archive again
    changes nothing, so the call is idempotent.
    """
    require_template_admin(actor)
    _check_name(name)
    template = Template.objects.select_related("active_version__file").filter(name=name).first()
    digest = hashlib.sha256(archive).hexdigest()
    if template and template.active_version and template.active_version.file.hash == digest:
        return template, template.active_version, False
    upload = file_upload(actor=actor, data=archive)
    version = template_version_create(
        actor=actor, file_id=upload.id, template_id=template.id if template else None, message=message
    )
    provisioner.job_run_now(job_id=version.job_id)
    version.refresh_from_db()
    if template is None:
        template = template_create(actor=actor, name=name, display_name="", description="", version_id=version.id)
    else:
        template = template_update_active_version(actor=actor, template_id=template.id, version_id=version.id)
    return template, version, True


def archive_from_directory(directory: Path) -> bytes:
    """A tar of a directory's files (relative names), as ``templates push`` uploads it."""
    files = {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }
    return archive_from_files(files)


def template_ensure_starter() -> Template | None:
    """On a deployment's first start, create the starter template (a plain shell workspace).

    Does nothing once any template exists, so restarts and deliberate deletions are respected.
    """
    if Template.objects.exists():
        return None
    actor = first_site_owner()
    if actor is None:
        return None
    template, _, _ = template_push(
        actor=actor, name=STARTER_TEMPLATE_NAME, archive=archive_from_directory(STARTER_TEMPLATE_DIR)
    )
    return template


# ---------------------------------------------------------------------------
# Workspaces and builds
# ---------------------------------------------------------------------------


def _parameter_text(value: Any) -> Any:
    """Coder sends every value as a string; accept JSON scalars and arrays from lenient clients."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _resolve_parameters(
    *, version: TemplateVersion, given: dict[str, Any], previous: dict[str, str] | None
) -> dict[str, str]:
    """The full parameter values for a build, checked against the version's declarations."""
    if not isinstance(given, dict):
        raise InvalidInput("Must be an object of parameter names to values.", field="rich_parameters")
    declared: list[TemplateVersionParameter] = list(version.parameters.all())
    known = {parameter.name for parameter in declared}
    for name in given:
        if name not in known:
            takes = ", ".join(sorted(known)) or "no parameters"
            raise InvalidInput(
                f"Unknown parameter {name!r}; this template version takes: {takes}.", field=f"rich_parameters.{name}"
            )
    values: dict[str, str] = {}
    for parameter in declared:
        field = f"rich_parameters.{parameter.name}"
        if parameter.name in given:
            value = _parameter_text(given[parameter.name])
            if previous and parameter.name in previous and not parameter.mutable and value != previous[parameter.name]:
                raise InvalidInput(f"Parameter {parameter.name!r} is immutable; it cannot change.", field=field)
        elif previous and parameter.name in previous:
            value = previous[parameter.name]
        elif parameter.required:
            raise InvalidInput(f"Parameter {parameter.name!r} is required.", field=field)
        else:
            value = parameter.default_value
        problem = parameter_value_error(parameter, value)
        if problem:
            raise InvalidInput(f"Parameter {parameter.name!r} {problem}.", field=field)
        values[parameter.name] = value
    return values


def _create_build(
    *, workspace: Workspace, transition: str, version: TemplateVersion, initiator: User, parameters: dict[str, str]
) -> WorkspaceBuild:
    number = (workspace.latest_build.build_number if workspace.latest_build else 0) + 1
    job = _queue_job(type=ProvisionerJob.Type.WORKSPACE_BUILD, initiator=initiator, file=version.file)
    build = WorkspaceBuild.objects.create(
        workspace=workspace,
        build_number=number,
        transition=transition,
        template_version=version,
        initiator=initiator,
        job=job,
        parameters=parameters,
    )
    workspace.latest_build = build
    workspace.save(update_fields=["latest_build", "updated_at"])
    audit_record(
        action=AuditEvent.Action.WORKSPACE_BUILD,
        user=initiator,
        resource_type="workspace",
        resource_id=workspace.id,
        detail={"workspace": f"{workspace.owner.username}/{workspace.name}", "transition": transition, "build": number},
    )
    return build


def _owner_for(actor: User, owner: User | str) -> User:
    if isinstance(owner, User):
        user = owner
    elif owner in ("me", "", None):
        user = actor
    else:
        user = User.objects.filter(username__iexact=owner, is_active=True).first()
        if user is None:
            raise NotFound(f"No user named {owner!r}.", field="user")
    if user.pk != actor.pk and not roles.has_role(actor, roles.OWNER):
        raise Forbidden("Only a site owner may create workspaces for other users.")
    return user


@transaction.atomic
def workspace_create(
    *,
    actor: User,
    owner: User | str,
    name: str,
    template_version_id: str | uuid.UUID | None = None,
    rich_parameters: dict[str, Any] | None = None,
    template_id: str | uuid.UUID | None = None,
) -> Workspace:
    """A new workspace and its first (start) build, queued."""
    owner_user = _owner_for(actor, owner)
    _check_name(name)
    if template_version_id:
        version = template_version_get(actor=actor, version_id=template_version_id)
        if version.template_id is None:
            raise InvalidInput("This version belongs to no template yet.", field="template_version_id")
    elif template_id:
        template = template_get(actor=actor, template_id=template_id)
        version = template_version_get(actor=actor, version_id=template.active_version_id)
    else:
        raise InvalidInput("Give a template_version_id (or a template_id).", field="template_version_id")
    _require_imported(version, field="template_version_id")
    if Workspace.objects.filter(owner=owner_user, name=name, deleted=False).exists():
        raise InvalidInput(f"{owner_user.username} already has a workspace named {name!r}.", field="name")
    parameters = _resolve_parameters(version=version, given=rich_parameters or {}, previous=None)
    workspace = Workspace.objects.create(owner=owner_user, template_id=version.template_id, name=name)
    _create_build(workspace=workspace, transition="start", version=version, initiator=actor, parameters=parameters)
    return workspace_get(actor=actor, ref=workspace.id)


_ALLOWED_FROM = {
    "start": {"stopped", "failed", "canceled"},
    "stop": {"running", "failed", "canceled"},
    "delete": {"running", "stopped", "failed", "canceled"},
}


@transaction.atomic
def workspace_build_create(
    *,
    actor: User,
    workspace: Workspace | str | uuid.UUID,
    transition: str,
    template_version_id: str | uuid.UUID | None = None,
    rich_parameters: dict[str, Any] | None = None,
) -> WorkspaceBuild:
    """Queue a start, stop or delete build. A start with a new version updates the workspace."""
    ref = workspace.id if isinstance(workspace, Workspace) else workspace
    current = workspace_get(actor=actor, ref=ref)
    require_workspace_action(actor, current)
    Workspace.objects.select_for_update().filter(id=current.id).first()  # one build at a time per workspace
    current = workspace_get(actor=actor, ref=ref)
    if transition not in _ALLOWED_FROM:
        raise InvalidInput("Must be one of start, stop, delete.", field="transition")
    latest = current.latest_build
    if latest is not None and not latest.job.is_finished:
        raise Conflict(f"Build {latest.build_number} is {latest.job.status}; wait for it to finish.")
    status = current.status
    version = latest.template_version if latest else current.template.active_version
    if template_version_id and str(template_version_id) != str(version.id):
        version = template_version_get(actor=actor, version_id=template_version_id)
        if version.template_id != current.template_id:
            raise InvalidInput("This version belongs to another template.", field="template_version_id")
        _require_imported(version, field="template_version_id")
        updating = True
    else:
        updating = False
    allowed = _ALLOWED_FROM[transition] | ({"running"} if transition == "start" and updating else set())
    if status not in allowed:
        raise InvalidInput(
            f"Cannot {transition} a workspace that is {status}.",
            field="transition",
            detail=f"{transition} is allowed when the workspace is {', '.join(sorted(allowed))}.",
        )
    previous = latest.parameters if latest else None
    if transition == "start":
        parameters = _resolve_parameters(version=version, given=rich_parameters or {}, previous=previous)
    elif rich_parameters:
        raise InvalidInput("Parameters apply only to start builds.", field="rich_parameters")
    else:
        parameters = previous or {}
    return _create_build(
        workspace=current, transition=transition, version=version, initiator=actor, parameters=parameters
    )


@transaction.atomic
def workspace_build_cancel(*, actor: User, build_id: str | uuid.UUID) -> WorkspaceBuild:
    """Cancel a queued build at once, or ask its worker to stop a running one (``canceling``)."""
    build = build_get(actor=actor, build_id=build_id)
    require_workspace_action(actor, build.workspace)
    now = timezone.now()
    jobs = ProvisionerJob.objects.filter(id=build.job_id)
    canceled = jobs.filter(status=ProvisionerJob.Status.PENDING).update(
        status=ProvisionerJob.Status.CANCELED, canceled_at=now, completed_at=now
    ) or jobs.filter(status=ProvisionerJob.Status.RUNNING).update(
        status=ProvisionerJob.Status.CANCELING, canceled_at=now
    )
    if not canceled:
        raise Conflict(
            f"Build {build.build_number} is {build.job.status}; only pending or running builds can be canceled."
        )
    return build_get(actor=actor, build_id=build_id)


# ---------------------------------------------------------------------------
# Workspace agents (issue 9): the per-build token and what a connected agent reports
# ---------------------------------------------------------------------------
AGENT_LOG_BATCH = 1000


def _agent_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_token_issue(*, agent: WorkspaceAgent) -> str:
    """A new random token for the agent of a running build (only its hash is kept).

    From now on the workspace is reached through that agent's socket, not local processes.
    """
    token = secrets.token_hex(32)  # never starts with "-", so it is safe as a command-line argument
    WorkspaceAgent.objects.filter(id=agent.id).update(
        token_hash=_agent_token_hash(token), status=WorkspaceAgent.Status.CONNECTING, channel_name=""
    )
    return token


def agent_connect(*, token: str, channel_name: str) -> WorkspaceAgent | None:
    """The agent a socket's token belongs to, marked connected on that socket (None: refused)."""
    if not token:
        return None
    agent = (
        WorkspaceAgent.objects.select_related("build", "build__workspace", "build__workspace__owner")
        .select_related("build__template_version")
        .filter(token_hash=_agent_token_hash(token))
        .exclude(lifecycle_state=WorkspaceAgent.Lifecycle.OFF)
        .first()
    )
    if agent is None:
        return None
    now = timezone.now()
    agent.status = WorkspaceAgent.Status.CONNECTED
    agent.channel_name = channel_name
    agent.worker = f"{socket.gethostname()}:{os.getpid()}"
    agent.last_connected_at = agent.last_heartbeat_at = now
    agent.first_connected_at = agent.first_connected_at or now
    agent.save(
        update_fields=[
            "status",
            "channel_name",
            "worker",
            "last_connected_at",
            "last_heartbeat_at",
            "first_connected_at",
            "updated_at",
        ]
    )
    return agent


def agent_disconnected(*, agent_id: uuid.UUID, channel_name: str) -> None:
    """The socket closed; a newer socket of the same agent is left alone."""
    WorkspaceAgent.objects.filter(id=agent_id, channel_name=channel_name).update(
        status=WorkspaceAgent.Status.DISCONNECTED, channel_name="", disconnected_at=timezone.now()
    )


def agent_heartbeat(
    *, agent_id: uuid.UUID, channel_name: str, version: str | None = None, directory: str | None = None
) -> None:
    fields = {"last_heartbeat_at": timezone.now(), "status": WorkspaceAgent.Status.CONNECTED}
    if isinstance(version, str):
        fields["version"] = version[:64]
    if isinstance(directory, str) and directory:
        fields["directory"] = directory[:1000]
    WorkspaceAgent.objects.filter(id=agent_id, channel_name=channel_name).update(**fields)


def agent_lifecycle_report(*, agent_id: uuid.UUID, state: str) -> None:
    """Record the state the agent reports; ``ready`` and ``start_error`` stamp ``ready_at``."""
    if state not in WorkspaceAgent.Lifecycle.values or state == WorkspaceAgent.Lifecycle.CREATED:
        raise InvalidInput(f"Unknown lifecycle state {state!r}.", field="state")
    fields: dict[str, Any] = {"lifecycle_state": state}
    if state == WorkspaceAgent.Lifecycle.STARTING:
        fields["started_at"] = timezone.now()
    if state in (WorkspaceAgent.Lifecycle.READY, WorkspaceAgent.Lifecycle.START_ERROR):
        fields["ready_at"] = timezone.now()
    # An agent the server turned off stays off.
    WorkspaceAgent.objects.filter(id=agent_id).exclude(lifecycle_state=WorkspaceAgent.Lifecycle.OFF).update(**fields)


def agent_logs_append(*, agent_id: uuid.UUID, lines: list[dict[str, str]]) -> None:
    levels = ProvisionerJobLog.Level.values
    WorkspaceAgentLog.objects.bulk_create(
        WorkspaceAgentLog(
            agent_id=agent_id,
            output=str(line.get("output", ""))[:10_000],
            level=line.get("level") if line.get("level") in levels else "info",
        )
        for line in lines[:AGENT_LOG_BATCH]
    )
