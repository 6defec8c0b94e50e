"""The ``server`` command for real: a child process that migrates, creates the owner and serves."""

import re

import httpx
import pytest

from oauth.models import User
from oauth.roles import OWNER, user_roles
from oauth.services import user_create_first_owner
from tests.helpers import clean_env, free_port, start_server, wait_for_line


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
    process = start_server("--bind", f"127.0.0.1:{port}", "--experiments", "*", env=env)
    try:
        output = wait_for_line(process, r"Listening on")
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
    finally:
        process.terminate()
        process.wait(timeout=15)

    # A second start finds the owner and creates nobody.
    process = start_server("--bind", f"127.0.0.1:{port}", env=env)
    try:
        output = wait_for_line(process, r"Listening on")
        assert "Created the first owner" not in output
        assert "starter template" not in output  # created on the first start only
        assert "Experiments enabled: none" in output
    finally:
        process.terminate()
        process.wait(timeout=15)
