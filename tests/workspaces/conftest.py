"""Workspaces under a per-test directory, builds run by the real provisioner code inline,
and no process of a test's workspaces left behind."""

import os
import signal

import pytest

from tests.conftest import make_user
from workspaces import provisioner
from workspaces.manifest import archive_from_files
from workspaces.runtime.host import kill_workspace_processes
from workspaces.services import file_upload, template_create, template_ensure_starter, template_version_create


@pytest.fixture(autouse=True)
def workspaces_dir(settings, tmp_path):
    """Each test's workspaces live under its own directory; none of their processes outlive it."""
    settings.CODER_WORKSPACES_DIR = tmp_path / "workspaces"
    yield settings.CODER_WORKSPACES_DIR
    home = f"HOME={settings.CODER_WORKSPACES_DIR}/".encode()
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if any(item.startswith(home) for item in environ.read().split(b"\0")):
                    os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    if settings.CODER_WORKSPACES_DIR.is_dir():  # and their cgroups go
        for workspace in os.scandir(settings.CODER_WORKSPACES_DIR):
            kill_workspace_processes(workspace.name, timeout_s=5)


def run_jobs() -> int:
    """Run every queued job in this thread, as a worker would; returns how many ran."""
    count = 0
    while provisioner.run_next_job(worker_id="test-worker"):
        count += 1
    return count


@pytest.fixture
def auditor(db):
    return make_user("audrey", "auditor", name="Audrey Auditor")


@pytest.fixture
def template_admin(db):
    return make_user("tess", "template-admin", name="Tess Template")


@pytest.fixture
def starter(owner):
    return template_ensure_starter()


def push_template(actor, name: str, manifest: str, files: dict[str, str] | None = None):
    """Upload, import (inline) and create a template from a manifest text."""
    upload = file_upload(actor=actor, data=archive_from_files({"template.toml": manifest, **(files or {})}))
    version = template_version_create(actor=actor, file_id=upload.id)
    provisioner.job_run_now(job_id=version.job_id)
    return template_create(actor=actor, name=name, display_name="", description="", version_id=version.id)
