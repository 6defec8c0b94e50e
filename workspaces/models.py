"""The domain in Coder's words: templates and their versions, workspaces and their builds,
provisioner jobs that do the work, the agent inside a running workspace, and their logs.

Primary keys are UUIDs as in Coder's API. State changes happen in ``services.py`` and the
provisioner; models only hold data and derive what Coder derives (a workspace's status).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UploadedFile(models.Model):
    """A tar archive uploaded for a template version (Coder's ``/files``; its id is the ``hash``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the data.")
    mimetype = models.CharField(max_length=100, default="application/x-tar")
    data = models.BinaryField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.hash[:12]} ({len(self.data)} bytes)"


class ProvisionerJob(models.Model):
    """Work for a provisioner worker: a template version import or a workspace build."""

    class Type(models.TextChoices):
        TEMPLATE_VERSION_IMPORT = "template_version_import"
        WORKSPACE_BUILD = "workspace_build"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        CANCELING = "canceling"
        CANCELED = "canceled"
        FAILED = "failed"

    FINISHED = (Status.SUCCEEDED, Status.CANCELED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=32, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    file = models.ForeignKey(UploadedFile, null=True, blank=True, on_delete=models.SET_NULL)
    worker_id = models.CharField(max_length=100, blank=True, help_text="The worker that claimed the job.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Refreshed while a worker runs the job.")

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class ProvisionerJobLog(models.Model):
    """One line of a job's output (template import or build), in order of ``id``."""

    class Level(models.TextChoices):
        TRACE = "trace"
        DEBUG = "debug"
        INFO = "info"
        WARN = "warn"
        ERROR = "error"

    job = models.ForeignKey(ProvisionerJob, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    stage = models.CharField(max_length=100, blank=True)
    output = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.output[:80]


class Template(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=128, blank=True)
    icon = models.CharField(max_length=256, blank=True)
    active_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deprecated = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    """An uploaded archive with its ``template.toml``; usable once its import job succeeded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=64)
    message = models.CharField(max_length=1000, blank=True)
    file = models.ForeignKey(UploadedFile, on_delete=models.PROTECT, related_name="+")
    manifest = models.JSONField(default=dict, blank=True, help_text="The parsed template.toml, set by the import.")
    job = models.OneToOneField(ProvisionerJob, on_delete=models.PROTECT, related_name="template_version")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.template or '(no template)'} {self.name}"


class TemplateVersionParameter(models.Model):
    """A rich parameter a workspace gives when it is created (values are strings, as in Coder)."""

    class Type(models.TextChoices):
        STRING = "string"
        NUMBER = "number"
        BOOL = "bool"
        LIST_STRING = "list(string)"

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="parameters")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=64)
    display_name = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.STRING)
    default_value = models.TextField(blank=True)
    mutable = models.BooleanField(default=True)
    required = models.BooleanField(default=False)
    options = models.JSONField(default=list, blank=True, help_text="[{name, value, description}]")
    validation_regex = models.CharField(max_length=500, blank=True)
    validation_min = models.FloatField(null=True, blank=True)
    validation_max = models.FloatField(null=True, blank=True)
    validation_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="unique_parameter_per_version")]

    def __str__(self) -> str:
        return self.name


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspaces")
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="workspaces")
    name = models.CharField(max_length=32)
    latest_build = models.ForeignKey(
        "WorkspaceBuild", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted = models.BooleanField(default=False, help_text="Set when a delete build succeeds.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["owner__username", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(deleted=False), name="unique_live_workspace_name_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner.username}/{self.name}"

    @property
    def status(self) -> str:
        return self.latest_build.status if self.latest_build else "pending"


class WorkspaceBuild(models.Model):
    class Transition(models.TextChoices):
        START = "start"
        STOP = "stop"
        DELETE = "delete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="builds")
    build_number = models.PositiveIntegerField()
    transition = models.CharField(max_length=8, choices=Transition.choices)
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="builds")
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    job = models.OneToOneField(ProvisionerJob, on_delete=models.PROTECT, related_name="workspace_build")
    parameters = models.JSONField(default=dict, blank=True, help_text="Rich parameter values: {name: value}.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-build_number"]
        constraints = [models.UniqueConstraint(fields=["workspace", "build_number"], name="unique_build_number")]

    def __str__(self) -> str:
        return f"{self.workspace} #{self.build_number} {self.transition}"

    @property
    def status(self) -> str:
        """The workspace status this build implies, derived as Coder derives it."""
        job = self.job.status
        Status = ProvisionerJob.Status
        if job == Status.PENDING:
            return "pending"
        if job == Status.RUNNING:
            return {"start": "starting", "stop": "stopping", "delete": "deleting"}[self.transition]
        if job == Status.SUCCEEDED:
            return {"start": "running", "stop": "stopped", "delete": "deleted"}[self.transition]
        return str(job)  # canceling, canceled, failed


class WorkspaceAgent(models.Model):
    """The agent of a started workspace: one per start build, as Coder makes a new one each build."""

    class Status(models.TextChoices):
        CONNECTING = "connecting"
        CONNECTED = "connected"
        DISCONNECTED = "disconnected"
        TIMEOUT = "timeout"

    class Lifecycle(models.TextChoices):
        CREATED = "created"
        STARTING = "starting"
        START_ERROR = "start_error"
        READY = "ready"
        SHUTTING_DOWN = "shutting_down"
        OFF = "off"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    build = models.OneToOneField(WorkspaceBuild, on_delete=models.CASCADE, related_name="agent")
    name = models.CharField(max_length=64, default="main")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTING)
    lifecycle_state = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.CREATED)
    directory = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_connected_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    # A remote agent (``python -m workspaces.agent``) dials in with a per-build token, stored
    # hashed and cleared when the build stops; the embedded local runtime has none.
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    version = models.CharField(max_length=64, blank=True)
    last_connected_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # The channel-layer name of the consumer holding the agent's socket (on whichever worker).
    channel_name = models.CharField(max_length=200, blank=True)
    # ``host:pid`` of the server process holding that socket, for operators.
    worker = models.CharField(max_length=200, blank=True)
    # The local runtime's agent process on the server host (so stop can make sure it is gone).
    process_id = models.IntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.build.workspace}.{self.name}"

    def current_status(self, *, heartbeat_s: float) -> str:
        """The stored status, or ``timeout`` when a connected agent missed three heartbeats."""
        stale = self.last_heartbeat_at and (timezone.now() - self.last_heartbeat_at).total_seconds() > 3 * heartbeat_s
        if self.status == self.Status.CONNECTED and self.token_hash and stale:
            return self.Status.TIMEOUT
        return self.status


class WorkspaceAgentLog(models.Model):
    """A line the agent reported, e.g. the startup script's output."""

    agent = models.ForeignKey(WorkspaceAgent, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=ProvisionerJobLog.Level.choices, default="info")
    source = models.CharField(max_length=64, default="startup_script")
    output = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.output[:80]
