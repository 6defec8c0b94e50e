"""Workspaces from templates, built by the provisioner with real processes."""

import asyncio

import pytest

from tests.helpers import free_port
from tests.workspaces.conftest import push_template, run_jobs
from workspaces import provisioner, selectors
from workspaces.errors import Conflict, InvalidInput, NotFound
from workspaces.models import ProvisionerJob, WorkspaceAgent
from workspaces.runtime import Edit, connection_for, launch
from workspaces.runtime.local import workspace_directory
from workspaces.services import template_ensure_starter, workspace_build_create, workspace_create

PARAMETERS = """
display_name = "Params"
startup_script = "echo region=$CODER_PARAMETER_REGION cpus=$CODER_PARAMETER_CPUS"

[[parameters]]
name = "region"
mutable = false
options = [{ value = "eu" }, { value = "us" }]

[[parameters]]
name = "cpus"
type = "number"
default = 2
validation = { min = 1, max = 8 }
"""


def run(coro):
    return asyncio.run(coro)


def build(actor, workspace, transition, **kwargs):
    new = workspace_build_create(actor=actor, workspace=workspace, transition=transition, **kwargs)
    assert selectors.build_get(actor=actor, build_id=new.id).status == "pending"
    run_jobs()
    return selectors.build_get(actor=actor, build_id=new.id)


def test_starter_template_is_created_once(owner):
    template = template_ensure_starter()
    assert template.name == "starter" and template.display_name == "Shell"
    assert template.active_version.job.status == "succeeded"
    assert template_ensure_starter() is None


def test_workspace_lifecycle_with_real_processes(member, starter):
    workspace = workspace_create(actor=member, owner="me", template_version_id=starter.active_version_id, name="dev")
    assert workspace.status == "pending" and workspace.latest_build.build_number == 1
    assert run_jobs() == 1
    workspace = selectors.workspace_get(actor=member, ref="dev")
    assert workspace.status == "running"
    agent = workspace.latest_build.agent
    assert agent.lifecycle_state == "ready" and agent.status == "connected"
    logs = [line.output for line in selectors.agent_logs(actor=member, agent_id=agent.id)]
    assert logs == [f"Workspace dev of mike is ready in {workspace_directory(workspace.id)}"]
    build_log = " ".join(line.output for line in selectors.build_logs(actor=member, build_id=workspace.latest_build.id))
    assert "created with 1 template file(s)" in build_log

    conn = connection_for(workspace)
    result = run(conn.exec("cat README.md | head -1; echo $CODER_WORKSPACE_OWNER_NAME; exit 7", timeout_s=10))
    assert result.output == "# Your workspace\nmike\n" and result.exit_code == 7
    run(conn.write("notes/todo.txt", b"one two"))
    run(conn.edit("notes/todo.txt", [Edit(search="two", replace="three")]))
    assert run(conn.read("notes/todo.txt")) == b"one three"
    assert [e.path.rsplit("/", 1)[1] for e in run(conn.ls("~"))] == ["README.md", "notes"]
    background = run(conn.exec(f"echo $$ > {conn.directory}/bg.pid; exec sleep 300", timeout_s=5, background=True))
    assert background.exit_code == 0

    with pytest.raises(InvalidInput) as running:
        workspace_build_create(actor=member, workspace=workspace, transition="start")
    assert running.value.field == "transition" and "running" in running.value.message

    stopped = build(member, workspace, "stop")
    assert stopped.status == "stopped" and stopped.build_number == 2
    pid = int((workspace_directory(workspace.id) / "bg.pid").read_text())
    from tests.workspaces.test_runtime import alive, wait_until

    assert wait_until(lambda: not alive(pid)), "a background process survived stop"
    assert WorkspaceAgent.objects.get(id=agent.id).lifecycle_state == "off"
    with pytest.raises(Conflict):
        connection_for(selectors.workspace_get(actor=member, ref="dev"))
    with pytest.raises(InvalidInput):
        workspace_build_create(actor=member, workspace=workspace, transition="stop")

    restarted = build(member, workspace, "start")
    assert restarted.status == "running" and restarted.agent.lifecycle_state == "ready"
    assert (workspace_directory(workspace.id) / "notes/todo.txt").read_bytes() == b"one three"  # home is kept

    deleted = build(member, workspace, "delete")
    assert deleted.status == "deleted"
    assert not workspace_directory(workspace.id).exists()
    assert selectors.workspace_list_for_user(actor=member).count == 0
    again = workspace_create(actor=member, owner="me", template_version_id=starter.active_version_id, name="dev")
    assert again.id != workspace.id  # the name is free once deleted


def test_build_in_progress_is_a_conflict(member, starter):
    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="busy")
    with pytest.raises(Conflict):
        workspace_build_create(actor=member, workspace=workspace, transition="stop")
    assert run_jobs() == 1
    with pytest.raises(InvalidInput) as bad:
        workspace_build_create(actor=member, workspace=workspace, transition="restart")
    assert bad.value.field == "transition"


def test_failing_startup_script_is_start_error_with_its_log(owner, member):
    template = push_template(owner, "failing", 'startup_script = "echo setting up; echo broken >&2; exit 4"')
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="oops")
    run_jobs()
    workspace = selectors.workspace_get(actor=member, ref=workspace.id)
    assert workspace.status == "running"  # the build succeeded; the agent reports the failure
    agent = workspace.latest_build.agent
    assert agent.lifecycle_state == "start_error"
    logs = [(line.output, line.level) for line in selectors.agent_logs(actor=member, agent_id=agent.id)]
    assert logs == [
        ("setting up", "info"),
        ("broken", "info"),
        ("The startup script exited with code 4.", "error"),
    ]


def test_failing_build_script_fails_the_build(owner, member):
    template = push_template(owner, "broken-build", 'build_script = "echo compiling; exit 2"')
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="broken")
    run_jobs()
    latest = selectors.workspace_get(actor=member, ref=workspace.id).latest_build
    assert latest.status == "failed" and latest.job.status == "failed"
    assert latest.job.error == "The build script exited with code 2."
    lines = [(line.output, line.level) for line in selectors.build_logs(actor=member, build_id=latest.id)]
    assert ("compiling", "info") in lines and ("The build script exited with code 2.", "error") in lines
    assert not hasattr(latest, "agent")
    retried = build(member, workspace, "delete")  # a failed workspace can still be deleted
    assert retried.status == "deleted"


def test_parameters_are_validated_and_exported(owner, member):
    template = push_template(owner, "params", PARAMETERS)
    version = template.active_version_id
    cases = [
        ({"region": "eu", "zone": "a"}, "rich_parameters.zone", "Unknown parameter"),
        ({}, "rich_parameters.region", "required"),
        ({"region": "mars"}, "rich_parameters.region", "must be one of eu, us"),
        ({"region": "eu", "cpus": "many"}, "rich_parameters.cpus", "must be a number"),
        ({"region": "eu", "cpus": "16"}, "rich_parameters.cpus", "at most 8"),
    ]
    for given, field, message in cases:
        with pytest.raises(InvalidInput) as refused:
            workspace_create(actor=member, owner="me", template_version_id=version, name="p", rich_parameters=given)
        assert refused.value.field == field and message in refused.value.message
    workspace = workspace_create(
        actor=member, owner="me", template_version_id=version, name="p", rich_parameters={"region": "us"}
    )
    assert workspace.latest_build.parameters == {"region": "us", "cpus": "2"}
    run_jobs()
    agent = selectors.workspace_get(actor=member, ref="p").latest_build.agent
    assert [line.output for line in selectors.agent_logs(actor=member, agent_id=agent.id)] == ["region=us cpus=2"]
    with pytest.raises(InvalidInput) as duplicate:
        workspace_create(
            actor=member, owner="me", template_version_id=version, name="p", rich_parameters={"region": "eu"}
        )
    assert duplicate.value.field == "name"
    build(member, workspace, "stop")
    with pytest.raises(InvalidInput) as immutable:
        workspace_build_create(actor=member, workspace=workspace, transition="start", rich_parameters={"region": "eu"})
    assert immutable.value.field == "rich_parameters.region" and "immutable" in immutable.value.message
    restarted = build(member, workspace, "start", rich_parameters={"cpus": "4"})
    assert restarted.parameters == {"region": "us", "cpus": "4"}


def test_stale_running_job_is_failed(member, starter, settings):
    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="stale")
    job = provisioner.job_claim(worker_id="a-worker-that-dies")
    assert job.id == workspace.latest_build.job_id and job.status == "running"
    assert provisioner.job_claim(worker_id="another") is None  # claimed once only
    assert provisioner.jobs_fail_stale() == 0
    settings.CODER_PROVISIONER_STALE_AFTER = 0
    assert provisioner.jobs_fail_stale() == 1
    job.refresh_from_db()
    assert job.status == ProvisionerJob.Status.FAILED and "stopped reporting" in job.error
    assert selectors.workspace_get(actor=member, ref="stale").status == "failed"
    assert [line.level for line in job.logs.all()] == ["error"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_each_job_once(owner):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from workspaces.manifest import archive_from_files
    from workspaces.services import file_upload, template_version_create

    upload = file_upload(actor=owner, data=archive_from_files({"template.toml": ""}))
    jobs = {template_version_create(actor=owner, file_id=upload.id).job_id for _ in range(12)}

    def claim_all(worker: str) -> list:
        claimed = []
        try:
            while (job := provisioner.job_claim(worker_id=worker)) is not None:
                claimed.append(job.id)
        finally:
            connection.close()
        return claimed

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim_all, [f"w{i}" for i in range(4)]))
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(jobs)  # every job claimed, none twice
    assert set(ProvisionerJob.objects.values_list("status", flat=True)) == {"running"}


def test_cancel_a_queued_build(member, starter, stranger):
    from workspaces.services import workspace_build_cancel

    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="c")
    with pytest.raises(NotFound):
        workspace_build_cancel(actor=stranger, build_id=workspace.latest_build.id)
    canceled = workspace_build_cancel(actor=member, build_id=workspace.latest_build.id)
    assert canceled.job.status == "canceled" and canceled.status == "canceled"
    assert run_jobs() == 0  # nothing left for a worker
    with pytest.raises(Conflict, match="only pending or running builds"):
        workspace_build_cancel(actor=member, build_id=workspace.latest_build.id)
    restarted = build(member, workspace, "start")  # a canceled workspace can start again
    assert restarted.status == "running"


@pytest.mark.django_db(transaction=True)
def test_cancel_a_running_build_kills_its_script(owner, member):
    import threading
    import time

    from workspaces.services import workspace_build_cancel

    template = push_template(owner, "slow", 'build_script = "echo begin; sleep 60; echo never"')
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="slow")
    worker = threading.Thread(target=run_jobs)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not any(
            line.output == "begin" for line in selectors.build_logs(actor=member, build_id=workspace.latest_build.id)
        ):
            assert time.monotonic() < deadline, "the build script never started"
            time.sleep(0.05)
        canceling = workspace_build_cancel(actor=member, build_id=workspace.latest_build.id)
        assert canceling.status == "canceling"
        started = time.monotonic()
    finally:
        worker.join(timeout=30)
    assert time.monotonic() - started < 10
    latest = selectors.workspace_get(actor=member, ref="slow").latest_build
    assert latest.status == "canceled" and latest.job.completed_at is not None
    outputs = [line.output for line in selectors.build_logs(actor=member, build_id=latest.id)]
    assert "never" not in outputs and outputs[-1] == "Canceled"


def test_agent_whose_startup_never_reported_is_given_up_on(member, starter, settings):
    from datetime import timedelta

    from django.utils import timezone

    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="lost")
    provisioner.job_claim(worker_id="test")  # a worker took the build ...
    agent = WorkspaceAgent.objects.create(  # ... connected the agent, and died in the startup script
        build=workspace.latest_build, status="connected", lifecycle_state="starting", started_at=timezone.now()
    )
    assert provisioner.jobs_fail_stale() == 0
    WorkspaceAgent.objects.filter(id=agent.id).update(started_at=timezone.now() - timedelta(hours=2))
    assert provisioner.jobs_fail_stale() == 1  # the agent (the job still has a fresh heartbeat)
    agent.refresh_from_db()
    assert agent.lifecycle_state == "start_error"
    assert [line.output for line in agent.logs.all()] == ["The startup script stopped reporting; it was given up on."]


def test_build_durations_reach_the_metrics(member, starter):
    from prometheus_client import REGISTRY

    labels = {"transition": "start", "status": "succeeded"}
    before = REGISTRY.get_sample_value("coder_workspace_build_duration_seconds_count", labels) or 0
    workspace_create(actor=member, owner="me", template_version_id=starter.active_version_id, name="timed")
    assert run_jobs() == 1
    assert REGISTRY.get_sample_value("coder_workspace_build_duration_seconds_count", labels) == before + 1


def test_agent_that_never_connects_fails_the_start_with_the_end_of_its_log(member, starter, settings):
    settings.CODER_AGENT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.CODER_AGENT_CONNECT_TIMEOUT = 2
    workspace = workspace_create(actor=member, owner="me", template_id=starter.id, name="lost")
    run_jobs()
    latest = selectors.workspace_get(actor=member, ref=workspace.id).latest_build
    assert latest.status == "failed"
    assert latest.job.error.startswith("The agent did not connect within 2 s. The end of its log:\n")
    assert "Connect call failed" in latest.job.error  # the agent's own words
    lines = [line.output for line in selectors.build_logs(actor=member, build_id=latest.id)]
    assert "Waiting for the agent to connect" in lines
    agent = latest.agent
    assert (agent.lifecycle_state, agent.token_hash) == ("start_error", "")  # it can never dial in now
    assert not launch.local_agent_alive(pid=agent.process_id, directory=agent.directory)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("echo starting; exit 3", "The launch command exited with code 3; its output is above."),
        ("sleep 30", "The launch command did not return within 2 s; it must start or stop the agent and return"),
        ("echo {token} started nothing", "The agent did not connect within 2 s. The launch command's output is"),
    ],
)
def test_command_runtime_failures_fail_the_start_clearly(owner, member, settings, command, error):
    settings.CODER_AGENT_URL = "http://127.0.0.1:9"
    settings.CODER_AGENT_CONNECT_TIMEOUT = 2
    template = push_template(owner, "remote", f'[runtime]\nkind = "command"\nlaunch = "{command}"')
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="remote")
    run_jobs()
    latest = selectors.workspace_get(actor=member, ref=workspace.id).latest_build
    assert latest.status == "failed" and latest.job.error.startswith(error), latest.job.error
    lines = [line.output for line in selectors.build_logs(actor=member, build_id=latest.id)]
    assert "Running the runtime's launch command" in lines
    if "{token}" in command:
        assert "******** started nothing" in lines, "the token is masked in the build log"


def test_command_runtime_needs_an_agent_url(owner, member, settings):
    settings.CODER_AGENT_URL = ""
    template = push_template(owner, "remote", '[runtime]\nkind = "command"\nlaunch = "true"')
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="remote")
    run_jobs()
    latest = selectors.workspace_get(actor=member, ref=workspace.id).latest_build
    assert latest.job.error.startswith("The command runtime needs the URL agents dial: set CODER_AGENT_URL")
