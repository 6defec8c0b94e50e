"""The admin: every model browsable, logs readable, workspaces started/stopped/deleted
through the same services as REST and MCP (so the same rules and errors apply)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from workspaces import services
from workspaces.errors import DomainError
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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class JobLogInline(ReadOnlyInline):
    model = ProvisionerJobLog
    fields = ("created_at", "level", "stage", "output")


class AgentLogInline(ReadOnlyInline):
    model = WorkspaceAgentLog
    fields = ("created_at", "level", "source", "output")


class ParameterInline(ReadOnlyInline):
    model = TemplateVersionParameter
    fields = ("name", "type", "default_value", "required", "mutable", "options")


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    list_display = ("id", "hash", "size", "created_by", "created_at")
    list_select_related = ("created_by",)
    raw_id_fields = ("created_by",)
    search_fields = ("hash",)
    exclude = ("data",)
    readonly_fields = ("hash", "mimetype", "size", "created_at")

    @admin.display(description="bytes")
    def size(self, obj: UploadedFile) -> int:
        return len(obj.data)


@admin.register(ProvisionerJob)
class ProvisionerJobAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "status", "worker_id", "initiator", "created_at", "completed_at")
    list_filter = ("type", "status")
    list_select_related = ("initiator",)
    raw_id_fields = ("initiator", "file")
    readonly_fields = ("created_at", "started_at", "completed_at", "canceled_at", "heartbeat_at")
    inlines = [JobLogInline]


@admin.register(ProvisionerJobLog)
class ProvisionerJobLogAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "created_at", "level", "stage", "output")
    list_filter = ("level",)
    list_select_related = ("job",)
    raw_id_fields = ("job",)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "active_version", "deprecated", "created_by", "updated_at")
    list_select_related = ("active_version", "active_version__template", "created_by")
    raw_id_fields = ("active_version", "created_by")
    search_fields = ("name", "display_name")


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "template", "import_status", "created_by", "created_at")
    list_select_related = ("template", "job", "created_by")
    raw_id_fields = ("template", "file", "job", "created_by")
    search_fields = ("name", "template__name")
    readonly_fields = ("manifest",)
    inlines = [ParameterInline]

    @admin.display(description="import")
    def import_status(self, obj: TemplateVersion) -> str:
        return obj.job.status


class BuildInline(ReadOnlyInline):
    model = WorkspaceBuild
    fields = ("build_number", "transition", "template_version", "initiator", "created_at")
    show_change_link = True


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "template", "status", "deleted", "updated_at")
    list_filter = ("deleted", "template")
    list_select_related = ("owner", "template", "latest_build", "latest_build__job")
    raw_id_fields = ("owner", "template", "latest_build")
    search_fields = ("name", "owner__username")
    inlines = [BuildInline]
    actions = ["start", "stop", "delete_workspace"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        """Deleting a row would leave its processes and directory behind: use the delete build."""
        return False

    def _build(self, request: HttpRequest, queryset: QuerySet[Workspace], transition: str) -> None:
        for workspace in queryset:
            try:
                services.workspace_build_create(actor=request.user, workspace=workspace.id, transition=transition)
            except DomainError as exc:
                self.message_user(request, f"{workspace}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{workspace}: {transition} queued.", messages.SUCCESS)

    @admin.action(description="Start the selected workspaces")
    def start(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._build(request, queryset, "start")

    @admin.action(description="Stop the selected workspaces")
    def stop(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._build(request, queryset, "stop")

    @admin.action(description="Delete the selected workspaces (a delete build)")
    def delete_workspace(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._build(request, queryset, "delete")


@admin.register(WorkspaceBuild)
class WorkspaceBuildAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "initiator", "created_at")
    list_filter = ("transition",)
    list_select_related = ("workspace", "workspace__owner", "job", "initiator")
    raw_id_fields = ("workspace", "template_version", "initiator", "job")
    readonly_fields = ("job_logs",)

    @admin.display(description="build log")
    def job_logs(self, obj: WorkspaceBuild) -> str:
        return "\n".join(f"{line.created_at:%H:%M:%S} {line.stage}: {line.output}" for line in obj.job.logs.all())


@admin.register(WorkspaceAgent)
class WorkspaceAgentAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "lifecycle_state",
        "version",
        "last_heartbeat_at",
        "worker",
        "channel_name",
        "directory",
        "created_at",
    )
    list_filter = ("status", "lifecycle_state")
    list_select_related = ("build", "build__workspace", "build__workspace__owner")
    raw_id_fields = ("build",)
    exclude = ("token_hash",)  # a secret's hash: never shown or edited
    inlines = [AgentLogInline]


@admin.register(WorkspaceAgentLog)
class WorkspaceAgentLogAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "created_at", "level", "output")
    list_filter = ("level",)
    list_select_related = ("agent", "agent__build", "agent__build__workspace", "agent__build__workspace__owner")
    raw_id_fields = ("agent",)
