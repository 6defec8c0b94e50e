"""The ``server`` command for real: a child process that migrates, creates the owner and serves."""

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from oauth.models import User
from oauth.roles import OWNER, user_roles
from oauth.services import user_create_first_owner
from tests.helpers import ROOT, clean_env, free_port, start_server, wait_for_line


@contextlib.contextmanager
def served(*args: str, env: dict[str, str]) -> Iterator[str]:
    """``manage.py server ARGS`` until the block ends; yields what it printed up to listening."""
    process = start_server(*args, env=env)
    try:
        yield wait_for_line(process, r"Listening on")
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.django_db
def test_first_owner_is_created_once():
    user, password = user_create_first_owner(username="admin")
    assert user is not None and len(password) >= 12
    assert user.check_password(password)
    assert OWNER in user_roles(user)
    again, again_password = user_create_first_owner(username="admin")
    assert again is None and again_password == ""
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_first_owner_takes_the_configured_password():
    user, password = user_create_first_owner(username="root", password="given-password-123")
    assert password == "given-password-123"
    assert user.username == "root" and user.check_password("given-password-123")


@pytest.mark.slow
def test_server_command_serves_login_page_and_admin(tmp_path):
    port = free_port()
    env = clean_env(CODER_DATA_DIR=str(tmp_path), CODER_ACCESS_URL=f"http://127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    with served("--bind", f"127.0.0.1:{port}", "--experiments", "*", env=env) as output:
        assert "Created the first owner 'admin'" in output
        assert "Created the starter template (a plain shell workspace)." in output
        password = re.search(r"shown once, change it after signing in\): (\S+)", output).group(1)
        assert "Experiments enabled: mcp-server-http, oauth2" in output

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            assert client.get("/").headers["location"].startswith("/login")
            login_page = client.get("/login")
            assert login_page.status_code == 200 and "Sign in" in login_page.text
            csrf = client.cookies["csrftoken"]
            signed_in = client.post(
                "/login", data={"username": "admin", "password": password, "csrfmiddlewaretoken": csrf}
            )
            assert signed_in.status_code == 302
            assert client.get("/admin/").status_code == 200
            assert client.get("/healthz").json()["status"] == "ok"

    # A second start finds the owner and creates nobody.
    with served("--bind", f"127.0.0.1:{port}", env=env) as output:
        assert "Created the first owner" not in output
        assert "starter template" not in output  # created on the first start only
        assert "Experiments enabled: none" in output


@pytest.mark.slow
def test_without_an_access_url_links_follow_the_address(tmp_path):
    """CODER_ADDRESS alone moves the access URL with it (OAuth metadata names the real port);
    a --bind elsewhere says which URL the links still use."""
    port, other = free_port(), free_port()
    env = clean_env(CODER_DATA_DIR=str(tmp_path), CODER_ADDRESS=f"127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    with served("--experiments", "*", env=env) as output:
        assert f"Listening on http://127.0.0.1:{port}/ — open http://127.0.0.1:{port}/" in output
        assert "CODER_ACCESS_URL is not set" not in output
        metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/api/experimental/mcp/http")
        assert metadata.json()["resource"] == f"http://127.0.0.1:{port}/api/experimental/mcp/http"

    with served("--bind", f"127.0.0.1:{other}", env=env) as output:
        assert (
            f"CODER_ACCESS_URL is not set: links, OAuth metadata and the MCP URL say http://127.0.0.1:{port}. "
            f"Set CODER_ADDRESS=127.0.0.1:{other} instead of --bind, or CODER_ACCESS_URL."
        ) in output


def test_a_malformed_bind_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "server", "--bind", "nonsense"],
        cwd=ROOT,
        env=clean_env(CODER_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--bind 'nonsense': expected HOST:PORT, e.g. 127.0.0.1:3000" in result.stderr
    assert "Traceback" not in result.stderr
