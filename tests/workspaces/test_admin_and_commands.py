"""The admin pages and actions, and the management commands, called for real."""

import io
import os
import signal
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.helpers import ROOT, clean_env, wait_for_line
from tests.workspaces.conftest import run_jobs
from workspaces import provisioner, selectors
from workspaces.models import ProvisionerJob, Template
from workspaces.services import workspace_create


def test_every_model_has_an_admin_page(admin_client, member, starter):
    workspace_create(actor=member, owner="me", template_id=starter.id, name="dev")
    run_jobs()
    workspace = selectors.workspace_get(actor=member, ref="dev")
    for model in (
        "uploadedfile",
        "provisionerjob",
        "provisionerjoblog",
        "template",
        "templateversion",
        "workspace",
        "workspacebuild",
        "workspaceagent",
        "workspaceagentlog",
    ):
        assert admin_client.get(f"/admin/workspaces/{model}/").status_code == 200, model
    build_page = admin_client.get(f"/admin/workspaces/workspacebuild/{workspace.latest_build.id}/change/")
    assert b"Agent main connected" in build_page.content  # the build log is readable
    agent = workspace.latest_build.agent
    agent_page = admin_client.get(f"/admin/workspaces/workspaceagent/{agent.id}/change/")
    assert b"Workspace dev of mike is ready" in agent_page.content


def test_admin_actions_stop_and_start(admin_client, member, starter):
    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="dev")
    run_jobs()
    changelist = "/admin/workspaces/workspace/"
    response = admin_client.post(changelist, {"action": "stop", "_selected_action": [str(workspace.id)]}, follow=True)
    assert b"stop queued" in response.content
    run_jobs()
    assert selectors.workspace_get(actor=member, ref=workspace.id).status == "stopped"
    refused = admin_client.post(changelist, {"action": "stop", "_selected_action": [str(workspace.id)]}, follow=True)
    assert b"Cannot stop a workspace that is stopped." in refused.content
    admin_client.post(changelist, {"action": "start", "_selected_action": [str(workspace.id)]})
    run_jobs()
    assert selectors.workspace_get(actor=member, ref=workspace.id).status == "running"
    assert b'value="delete_selected"' not in admin_client.get(changelist).content  # only the delete build
    admin_client.post(changelist, {"action": "delete_workspace", "_selected_action": [str(workspace.id)]})
    run_jobs()
    assert selectors.workspace_list_for_user(actor=member).count == 0


def test_templates_push_list_and_workspaces_list(owner, member, tmp_path):
    directory = tmp_path / "tpl"
    (directory / "home").mkdir(parents=True)
    (directory / "template.toml").write_text('display_name = "Pushed"\nstartup_script = "echo up"\n')
    (directory / "home" / "notes.txt").write_text("hello")
    out = io.StringIO()
    call_command("templates", "push", "pushed", str(directory), stdout=out)
    assert "Template pushed: version v-" in out.getvalue() and "is active" in out.getvalue()
    call_command("templates", "push", "pushed", str(directory), stdout=out)
    assert "Template pushed is up to date" in out.getvalue()
    (directory / "template.toml").write_text('display_name = "Pushed"\nstartup_script = "echo up again"\n')
    call_command("templates", "push", "pushed", str(directory), stdout=out)
    template = Template.objects.get(name="pushed")
    assert template.versions.count() == 2 and "up again" in template.active_version.manifest["startup_script"]

    (directory / "template.toml").write_text("[[parameters]]\nname = 'x'\ntype = 'colour'\n")
    with pytest.raises(CommandError, match=r"file_id: template.toml: parameters\[0\].type: must be one of"):
        call_command("templates", "push", "pushed", str(directory))
    with pytest.raises(CommandError, match="no template.toml"):
        call_command("templates", "push", "pushed", str(tmp_path))

    listing = io.StringIO()
    call_command("templates", "list", stdout=listing)
    lines = listing.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "DISPLAY", "NAME", "ACTIVE", "VERSION", "USERS"]
    assert lines[1].split()[:2] == ["pushed", "Pushed"]

    workspace_create(actor=owner, owner="mike", template_id=template.id, name="box")
    run_jobs()
    workspaces = io.StringIO()
    call_command("workspaces", "list", stdout=workspaces)
    assert workspaces.getvalue().splitlines()[1].split()[:3] == ["mike/box", "pushed", "running"]


def test_provisionerd_once_runs_queued_jobs(member, starter):
    workspace_create(actor=member, owner="me", template_id=starter.id, name="dev")
    out = io.StringIO()
    call_command("provisionerd", "--exit-when-idle", stdout=out)
    assert out.getvalue().strip() == "Ran 1 job(s)."
    assert selectors.workspace_get(actor=member, ref="dev").status == "running"


def _database_url() -> str:
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_external_provisionerd_process_builds(member, owner, workspaces_dir):
    from workspaces.services import template_ensure_starter

    starter = template_ensure_starter()
    env = clean_env(
        DATABASE_URL=_database_url(),
        CODER_DATA_DIR=str(workspaces_dir.parent),
        CODER_WORKSPACES_DIR=str(workspaces_dir),
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "provisionerd", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_line(process, r"Provisioner daemon running with 2 worker")
        workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="ext")
        job = provisioner.job_wait_finished(job_id=workspace.latest_build.job_id, timeout_s=60)
        assert job.status == ProvisionerJob.Status.SUCCEEDED and job.worker_id.endswith(
            ("provisioner-0", "provisioner-1")
        )
        assert selectors.workspace_get(actor=member, ref="ext").status == "running"
    finally:
        process.send_signal(signal.SIGTERM)
        stopped = wait_for_line(process, r"Provisioner daemon stopped", timeout=30)
        process.wait(timeout=30)
    assert process.returncode == 0 and stopped
