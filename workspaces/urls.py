from django.urls import path

from workspaces import api, views

urlpatterns = [
    path("", views.home, name="home"),
    # REST, Coder's /api/v2 paths
    path("api/v2/files", api.file_upload, name="api-files"),
    path("api/v2/templates", api.template_list_create, name="api-templates"),
    path("api/v2/templates/<str:template_id>", api.template_detail, name="api-template"),
    path("api/v2/templates/<str:template_id>/versions", api.template_versions, name="api-template-versions"),
    path("api/v2/templateversions", api.template_version_create, name="api-template-version-create"),
    path("api/v2/templateversions/<str:version_id>", api.template_version_detail, name="api-template-version"),
    path(
        "api/v2/templateversions/<str:version_id>/rich-parameters",
        api.template_version_parameters,
        name="api-template-version-parameters",
    ),
    path("api/v2/templateversions/<str:version_id>/logs", api.template_version_logs, name="api-template-version-logs"),
    path("api/v2/workspaces", api.workspace_list, name="api-workspaces"),
    path("api/v2/workspaces/<str:workspace_id>", api.workspace_detail, name="api-workspace"),
    path("api/v2/workspaces/<str:workspace_id>/builds", api.workspace_builds, name="api-workspace-builds"),
    path("api/v2/users/<str:user>/workspaces", api.workspace_create, name="api-workspace-create"),
    path("api/v2/users/<str:user>/workspace/<str:name>", api.workspace_by_owner_and_name, name="api-workspace-by-name"),
    path("api/v2/workspacebuilds/<str:build_id>", api.build_detail, name="api-build"),
    path("api/v2/workspacebuilds/<str:build_id>/logs", api.build_logs, name="api-build-logs"),
    path("api/v2/workspacebuilds/<str:build_id>/cancel", api.build_cancel, name="api-build-cancel"),
    path("api/v2/workspaceagents/<str:agent_id>/logs", api.agent_logs, name="api-agent-logs"),
]
