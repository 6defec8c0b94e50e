import logging
import os

import pytest
from django.core.management import call_command

from coderproject import experiments


def test_names_are_lowercased_and_trimmed():
    assert experiments.parse(" MCP-Server-HTTP ,oauth2,") == {"mcp-server-http", "oauth2"}


def test_star_enables_everything():
    assert experiments.parse("*") == set(experiments.KNOWN)


def test_unknown_names_are_logged_and_ignored(caplog):
    with caplog.at_level(logging.WARNING, logger="coderproject.experiments"):
        assert experiments.parse("oauth2,teleport") == {"oauth2"}
    assert "teleport" in caplog.text


def test_empty_means_none():
    assert experiments.parse("") == frozenset()


def test_disabled_body_matches_coder():
    response = experiments.disabled_response("mcp-server-http")
    assert response.status_code == 403
    assert response.content == (
        b'{"message": "This functionality requires enabling the following experiments: mcp-server-http"}'
    )


def test_require_gates_a_view(rf, enable_experiments):
    @experiments.require("oauth2")
    def view(request):
        from django.http import HttpResponse

        return HttpResponse("open")

    enable_experiments()
    assert view(rf.get("/")).status_code == 403
    enable_experiments("oauth2")
    assert view(rf.get("/")).content == b"open"


@pytest.mark.django_db
def test_experiments_endpoint_lists_enabled(member_client, enable_experiments):
    enable_experiments("*")
    response = member_client.get("/api/v2/experiments")
    assert response.status_code == 200
    assert response.json() == ["mcp-server-http", "oauth2"]


def test_server_flag_beats_environment(settings, monkeypatch):
    """``server --experiments`` replaces what CODER_EXPERIMENTS said."""
    from coderproject.management.commands.server import Command

    monkeypatch.setenv("CODER_EXPERIMENTS", "oauth2")
    settings.CODER_EXPERIMENTS = experiments.parse("oauth2")
    Command().apply_experiments("mcp-server-http")
    assert {"mcp-server-http"} == settings.CODER_EXPERIMENTS
    assert os.environ["CODER_EXPERIMENTS"] == "mcp-server-http"


def test_bad_bind_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="expected HOST:PORT"):
        call_command("server", "--bind", "nonsense")
