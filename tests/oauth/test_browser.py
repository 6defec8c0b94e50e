"""The token journey in a real browser against a real server: sign in, create a token, use
it from an HTTP client, delete it, and see it refused.

Screenshots go to ``$CODER_SCREENSHOTS`` when set (``docs/screenshots`` holds the committed
ones), otherwise to the test's temporary directory, so test runs leave the tree clean.
"""

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    target = os.environ.get("CODER_SCREENSHOTS")
    directory = (ROOT / target) if target else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def deployment(enable_experiments, settings, tmp_path) -> None:
    """Before ``daphne_server`` forks, so the server has the same settings."""
    enable_experiments("mcp-server-http", "oauth2")
    settings.CODER_WORKSPACES_DIR = tmp_path / "workspaces"


@pytest.fixture
def workspace(daphne_server, owner, member):
    """A workspace the server's embedded provisioner builds while the test runs."""
    from workspaces.runtime.local import kill_workspace_processes
    from workspaces.services import template_ensure_starter, workspace_create

    starter = template_ensure_starter()
    created = workspace_create(actor=member, owner="me", name="dev", template_version_id=starter.active_version_id)
    yield created
    kill_workspace_processes(created.id)


def wait_for_status(page, name: str, status: str, timeout_s: float = 60) -> None:
    """Server-rendered: reload until the row shows ``status`` or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    badge = page.get_by_role("row").filter(has_text=name).locator(".badge")
    while badge.inner_text() != status:
        assert time.monotonic() < deadline, f"{name} still {badge.inner_text()!r} after {timeout_s} s"
        page.wait_for_timeout(250)
        page.reload()


def test_token_lifecycle_in_the_browser(deployment, daphne_server, member, workspace, settings, screenshots, browser):
    mcp_url = settings.CODER_MCP_URL
    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=daphne_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_server)
    page = context.new_page()

    page.goto("/settings/tokens")
    assert page.url.startswith(f"{daphne_server}/login")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{daphne_server}/settings/tokens")
    assert page.get_by_text("You have no tokens yet").is_visible()

    page.get_by_label("Token name").fill("browser-test")
    page.get_by_label("Expires after").select_option("7d")
    page.get_by_role("button", name="Create token").click()
    secret_box = page.locator("#new-token")
    secret_box.wait_for()
    raw = secret_box.inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{10}-[A-Za-z0-9]{22}", raw)
    assert page.get_by_text("This is the only time it is shown").is_visible()

    page.get_by_role("button", name="Copy the new token").click()
    page.locator('button[data-copy="new-token"]', has_text="Copied").wait_for()
    assert page.locator("#copy-status").inner_text() == "Copied to the clipboard."
    assert page.evaluate("navigator.clipboard.readText()") == raw
    page.screenshot(path=screenshots / "tokens.png", full_page=True)

    with httpx.Client(base_url=daphne_server, timeout=10) as http:
        me = http.get("/api/v2/users/me", headers={"Coder-Session-Token": raw})
        assert me.status_code == 200 and me.json()["username"] == member.username

        page.goto("/settings/tokens")
        assert raw not in page.content(), "the secret is shown once only"
        row = page.get_by_role("row").filter(has_text="browser-test")
        assert row.get_by_text("Active").is_visible()
        last_used = row.locator("td").nth(3).inner_text()
        assert last_used == "now" or last_used.endswith("ago"), f"last used is shown: {last_used!r}"

        page.set_viewport_size({"width": 390, "height": 844})
        assert row.get_by_role("link", name="Delete the token browser-test").is_visible(), "usable on a phone"
        page.screenshot(path=screenshots / "tokens-narrow.png", full_page=True)
        page.set_viewport_size({"width": 1100, "height": 900})

        row.get_by_role("link", name="Delete the token browser-test").click()
        page.get_by_role("heading", name="Delete the token “browser-test”?").wait_for()
        page.get_by_role("button", name="Delete token").click()
        page.get_by_text("Deleted the token “browser-test”").wait_for()
        assert page.get_by_text("You have no tokens yet").is_visible()

        gone = http.get("/api/v2/users/me", headers={"Coder-Session-Token": raw})
        assert gone.status_code == 401
        assert gone.headers["WWW-Authenticate"].startswith('Bearer realm="coder", error="invalid_token"')

    page.goto("/")
    wait_for_status(page, workspace.name, "Running")
    page.get_by_role("heading", name="Connect an AI assistant").wait_for()
    assert page.locator("#mcp-url").inner_text() == mcp_url
    assert page.get_by_text("The MCP server is off").count() == 0
    page.screenshot(path=screenshots / "home.png", full_page=True)
    context.close()
