import os

import pytest
from django.core import checks

from coderproject.checks import workspace_process_limit
from workspaces.runtime import host


def errors_ids() -> set[str]:
    return {message.id for message in checks.run_checks(tags=[checks.Tags.security])}


def test_debug_mode_allows_development_defaults(settings):
    settings.DEBUG = True
    assert not errors_ids() & {"coder.E001", "coder.E002"}


def test_generated_key_refused_without_debug(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = True
    settings.CODER_ACCESS_URL = "https://coder.example.com"
    assert "coder.E001" in errors_ids()


def test_plain_http_access_url_refused_without_debug(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = False
    settings.CODER_ACCESS_URL = "http://coder.example.com"
    found = errors_ids()
    assert "coder.E002" in found
    assert "coder.E001" not in found


def test_safe_production_settings_pass(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = False
    settings.CODER_ACCESS_URL = "https://coder.example.com"
    assert not errors_ids() & {"coder.E001", "coder.E002"}


@pytest.mark.skipif(os.geteuid() != 0, reason="the warning is about a server running as root")
def test_an_unenforced_process_limit_is_warned_about(settings, monkeypatch):
    settings.CODER_WORKSPACE_SANDBOX = "off"
    monkeypatch.setattr(host, "pids_cgroup_base", lambda: None)  # a host where no cgroup can be made
    [warning] = workspace_process_limit(None)
    assert warning.id == "coder.W003" and "not enforced" in warning.msg
    settings.CODER_WORKSPACE_MAX_PROCESSES = 0  # no limit asked for: nothing to warn about
    assert workspace_process_limit(None) == []


@pytest.mark.skipif(host.pids_cgroup_base() is None, reason="no pids cgroup can be made here")
def test_a_pids_cgroup_enforces_the_process_limit(settings):
    settings.CODER_WORKSPACE_SANDBOX = "off"
    assert workspace_process_limit(None) == []


@pytest.mark.skipif(host.find_sandbox()[0] is None, reason="no sandbox here")
def test_the_sandbox_enforces_the_process_limit(settings, monkeypatch):
    settings.CODER_WORKSPACE_SANDBOX = "auto"  # its user namespace makes RLIMIT_NPROC bind root
    monkeypatch.setattr(host, "pids_cgroup_base", lambda: None)
    assert workspace_process_limit(None) == []
