"""Server-rendered pages: sign-in rate limit, Settings > Tokens, the connect panel on the home page."""

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from oauth.models import APIKey
from oauth.services import api_key_create
from tests.conftest import PASSWORD

TOKEN_IN_PAGE = re.compile(r'<code id="new-token" class="secret">([A-Za-z0-9]{10}-[A-Za-z0-9]{22})</code>')


@pytest.fixture(autouse=True)
def empty_cache():
    """Sign-in failure counts live in the cache, which outlives a test's database."""
    cache.clear()
    yield
    cache.clear()


# --- Sign-in rate limit ----------------------------------------------------------------


@pytest.mark.django_db
def test_sign_in_is_refused_after_repeated_failures(member, settings):
    settings.CODER_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        response = client.post("/login", {"username": member.username, "password": "wrong"})
        assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    response = client.post("/login", {"username": member.username, "password": PASSWORD})
    assert response.status_code == 429
    assert settings.CODER_LOGIN_LOCKOUT - 60 < int(response.headers["Retry-After"]) <= settings.CODER_LOGIN_LOCKOUT
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert client.get("/").status_code == 302, "even the right password is refused while locked"

    other_address = Client(REMOTE_ADDR="10.0.0.9")
    response = other_address.post("/login", {"username": member.username, "password": PASSWORD})
    assert response.status_code == 302, "the count is per address and username"


@pytest.mark.django_db
def test_success_resets_the_count(member, stranger, settings):
    settings.CODER_LOGIN_MAX_FAILURES = 2
    client = Client()
    client.post("/login", {"username": member.username, "password": "wrong"})
    assert client.post("/login", {"username": member.username, "password": PASSWORD}).status_code == 302
    client.logout()
    client.post("/login", {"username": member.username, "password": "wrong"})
    assert client.post("/login", {"username": member.username, "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(2):
        client.post("/login", {"username": stranger.username, "password": "wrong"})
    assert client.post("/login", {"username": stranger.username.upper(), "password": PASSWORD}).status_code == 429


# --- Settings > Tokens -----------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_page_needs_sign_in():
    response = Client().get("/settings/tokens")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.django_db
def test_empty_state_explains_tokens(member_client):
    page = member_client.get("/settings/tokens").content.decode()
    assert "You have no tokens yet" in page and "MCP server" in page
    assert '<label for="id_token_name">Token name</label>' in page
    assert '<label for="id_lifetime">Expires after</label>' in page


@pytest.mark.django_db
def test_create_shows_the_secret_once_and_it_works(member_client, member):
    response = member_client.post("/settings/tokens", {"token_name": "laptop", "lifetime": "7d"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = response.content.decode()
    raw = TOKEN_IN_PAGE.search(page).group(1)
    assert "only time it is shown" in page and 'data-copy="new-token"' in page
    key = APIKey.objects.get(user=member, name="laptop")
    assert raw.startswith(key.id) and key.lifetime_seconds == 7 * 86400

    again = member_client.get("/settings/tokens").content.decode()
    assert raw.split("-")[1] not in again and "laptop" in again and key.masked in again
    assert Client(headers={"Coder-Session-Token": raw}).get("/api/v2/users/me").status_code == 200


@pytest.mark.django_db
def test_create_errors_are_shown_by_the_field(member_client, member):
    api_key_create(actor=member, user=member, name="taken")
    page = member_client.post("/settings/tokens", {"token_name": "taken", "lifetime": "30d"}).content.decode()
    assert "already exists" in page and 'aria-invalid="true"' in page and 'id="new-token"' not in page
    page = member_client.post("/settings/tokens", {"token_name": "bad name", "lifetime": "30d"}).content.decode()
    assert "letters and digits" in page
    page = member_client.post("/settings/tokens", {"token_name": "x", "lifetime": "9999d"}).content.decode()
    assert "Select a valid choice" in page
    assert list(APIKey.objects.values_list("name", flat=True)) == ["taken"]


@pytest.mark.django_db
def test_lifetime_choices_respect_the_cap(member_client, settings):
    settings.CODER_MAX_TOKEN_LIFETIME = 7 * 86400
    page = member_client.get("/settings/tokens").content.decode()
    assert 'value="7d" selected' in page and 'value="30d"' not in page


@pytest.mark.django_db
def test_delete_asks_then_deletes(member_client, member):
    key, _ = api_key_create(actor=member, user=member, name="old")
    url = f"/settings/tokens/{key.id}/delete"
    confirm = member_client.get(url).content.decode()
    assert "Delete the token “old”?" in confirm and APIKey.objects.filter(pk=key.pk).exists()
    response = member_client.post(url, follow=True)
    assert "Deleted the token “old”" in response.content.decode()
    assert not APIKey.objects.filter(pk=key.pk).exists()


@pytest.mark.django_db
def test_a_stranger_cannot_delete_or_see_my_token(member, stranger):
    key, _ = api_key_create(actor=member, user=member, name="mine")
    client = Client()
    client.force_login(stranger)
    assert client.get(f"/settings/tokens/{key.id}/delete").status_code == 404
    assert client.post(f"/settings/tokens/{key.id}/delete").status_code == 404
    assert "mine" not in client.get("/settings/tokens").content.decode()
    assert APIKey.objects.filter(pk=key.pk).exists()


@pytest.mark.django_db
def test_forms_need_csrf(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post("/settings/tokens", {"token_name": "x", "lifetime": "30d"}).status_code == 403
    assert not APIKey.objects.exists()


# --- Home: connect an AI assistant --------------------------------------------------------


@pytest.mark.django_db
def test_home_shows_ready_configs_with_this_deployments_url(member_client, settings, enable_experiments):
    url = "https://coder.example.com/api/experimental/mcp/http"
    settings.CODER_MCP_URL = url
    enable_experiments("mcp-server-http")
    page = member_client.get("/").content.decode()
    assert "Connect an AI assistant" in page and f'<code id="mcp-url" class="secret">{url}</code>' in page
    assert "The MCP server is off" not in page

    def config(slug: str) -> str:
        import html

        block = re.search(rf'<code id="config-{slug}">(.*?)</code>', page, re.S).group(1)
        return html.unescape(block)

    vscode = json.loads(config("vscode"))
    assert vscode["servers"]["coder"] == {
        "type": "http",
        "url": url,
        "headers": {"Coder-Session-Token": "${input:coder-session-token}"},
    }
    claude = json.loads(config("claude-desktop"))["mcpServers"]["coder"]
    assert url in claude["args"] and "Coder-Session-Token:${CODER_SESSION_TOKEN}" in claude["args"]
    cursor = json.loads(config("cursor"))["mcpServers"]["coder"]
    assert cursor == {"url": url, "headers": {"Coder-Session-Token": "YOUR_SESSION_TOKEN"}}
    assert url in config("claude-code")


@pytest.mark.django_db
def test_home_says_when_the_mcp_experiment_is_off(member_client, enable_experiments):
    enable_experiments()
    page = member_client.get("/").content.decode()
    assert "The MCP server is off" in page and "--experiments mcp-server-http" in page


@pytest.mark.django_db
def test_home_lists_my_workspaces_with_status_and_not_others(member, stranger, owner, settings, tmp_path):
    from workspaces.services import template_ensure_starter, workspace_create

    settings.CODER_WORKSPACES_DIR = tmp_path / "workspaces"
    starter = template_ensure_starter()
    workspace_create(actor=member, owner="me", name="mine", template_version_id=starter.active_version_id)
    workspace_create(actor=stranger, owner="me", name="theirs", template_version_id=starter.active_version_id)
    client = Client()
    client.force_login(member)
    page = client.get("/").content.decode()
    assert "<strong>mine</strong>" in page and '<span class="badge pending">Pending</span>' in page
    assert "theirs" not in page and "#1 start" in page

    client.force_login(owner)
    assert "You have no workspaces yet" in client.get("/").content.decode(), "home shows the owner's own only"
