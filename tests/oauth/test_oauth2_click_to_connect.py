"""Click-to-connect end to end: the MCP SDK's own OAuth client, starting from nothing but
the MCP URL, against a real Daphne; a real headless Chromium signs in and presses Allow."""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from asgiref.sync import async_to_sync
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from oauth2_provider.models import get_access_token_model, get_application_model
from playwright.async_api import async_playwright

from mcp_server.models import MCPSession
from oauth.oauth2.policy import MCP_PATH
from tests.conftest import PASSWORD
from tests.helpers import serve_http
from tests.mcp_server.test_transport import INITIALIZE
from tests.oauth.cimd_documents import document_server, use_loopback_documents
from tests.oauth.oauth2_helpers import make_application

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CIMD_CLIENT_ID = "https://client.example/oauth/mcp-client.json"


class MemoryStorage:
    """The SDK's TokenStorage, in memory, optionally pre-loaded with a client."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@contextlib.contextmanager
def callback_listener():
    """The client's loopback redirect listener (what VS Code runs): records the callback."""
    received: list[str] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.startswith("/callback"):  # not the browser's /favicon.ico
                received.append(self.path)
                arrived.set()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"You can close this window.")

        def log_message(self, *args):
            pass

    with serve_http(Handler) as origin:
        yield f"{origin}/callback", received, arrived


class BrowserUser:
    """Drives Chromium like a person: sign in when asked, read the consent page, press Allow."""

    def __init__(self, username: str, callback: str, received: list[str], arrived: threading.Event) -> None:
        self.username = username
        self.callback = callback
        self.received = received
        self.arrived = arrived
        self.consent_text = ""

    async def redirect_handler(self, authorization_url: str) -> None:
        self.arrived.clear()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = await browser.new_page()
                await page.goto(authorization_url)
                if "/login" in page.url:
                    await page.fill("#id_username", self.username)
                    await page.fill("#id_password", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_load_state()
                assert await page.locator("#authorizationForm").count() == 1, await page.inner_text("main")
                self.consent_text = await page.inner_text("main")
                await page.click("button[name=allow]")
                await page.wait_for_url(self.callback + "**")
            finally:
                await browser.close()

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.arrived.wait(timeout=30), "the browser never reached the client's callback"
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.received[-1]).query).items()}
        assert "code" in query, query
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def client_metadata(callback: str, **fields) -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name="SDK end-to-end client",
        redirect_uris=[callback],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method=fields.pop("token_endpoint_auth_method", "none"),
        **fields,
    )


async def connect(mcp_url: str, provider: OAuthClientProvider, mode: str = "2026-07-28") -> tuple[list[str], str]:
    """MCP through the provider: the tool names, and the username ``coder_get_authenticated_user`` names."""
    async with (
        httpx2.AsyncClient(auth=provider, timeout=60) as http,
        Client(streamable_http_client(mcp_url, http_client=http), mode=mode) as client,
    ):
        tools = await client.list_tools()
        me = await client.call_tool("coder_get_authenticated_user", {})
        assert not me.is_error, me.content[0].text
        return [tool.name for tool in tools.tools], me.structured_content["username"]


def bearer_post(mcp_url: str, access_token: str) -> httpx.Response:
    return httpx.post(
        mcp_url,
        json=INITIALIZE,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream"},
        timeout=30,
    )


def assert_challenge(response: httpx.Response, server: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert f'resource_metadata="{server}/.well-known/oauth-protected-resource{MCP_PATH}"' in challenge
    assert 'scope="mcp"' in challenge


def connect_dynamic_client(mcp_url: str, user) -> MemoryStorage:
    """A fresh self-registering client, connected through the browser as ``user``; its storage."""
    with callback_listener() as (callback, received, arrived):
        person = BrowserUser(user.username, callback, received, arrived)
        storage = MemoryStorage()
        provider = OAuthClientProvider(
            mcp_url, client_metadata(callback), storage, person.redirect_handler, person.callback_handler
        )
        assert async_to_sync(connect)(mcp_url, provider)[1] == user.username
    return storage


def revoke(server: str, storage: MemoryStorage) -> None:
    response = httpx.post(
        server + "/oauth2/revoke",
        data={"token": storage.tokens.access_token, "client_id": storage.client_info.client_id},
    )
    assert response.status_code == 200


def test_dynamic_client_connects_refreshes_and_is_cut_off(oauth_server, member):
    mcp_url = oauth_server + MCP_PATH
    with callback_listener() as (callback, received, arrived):
        person = BrowserUser(member.username, callback, received, arrived)
        storage = MemoryStorage()
        provider = OAuthClientProvider(
            server_url=mcp_url,
            client_metadata=client_metadata(callback),
            storage=storage,
            redirect_handler=person.redirect_handler,
            callback_handler=person.callback_handler,
        )
        tool_names, username = async_to_sync(connect)(mcp_url, provider, "legacy")

        # Registered itself, was shown as such, and the token acts as the person who consented.
        assert "registered itself; it is not verified by your administrator" in person.consent_text
        assert "a program on this computer" in person.consent_text
        application = get_application_model().objects.get(client_id=storage.client_info.client_id)
        assert application.registration_source == "dcr"
        assert "coder_get_authenticated_user" in tool_names
        assert username == member.username
        assert MCPSession.objects.filter(user=member).exists()
        token = get_access_token_model().objects.get(user=member, application=application)
        assert token.resource == [mcp_url]

        # Refresh: the provider refreshes an expired token by itself and keeps working.
        first = storage.tokens
        provider.context.token_expiry_time = time.time() - 1
        assert async_to_sync(connect)(mcp_url, provider)[1] == member.username
        second = storage.tokens
        assert second.access_token != first.access_token
        assert second.refresh_token != first.refresh_token

        # A replayed refresh token revokes the whole family: the live access token dies too.
        replay = httpx.post(
            oauth_server + "/oauth2/tokens",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": application.client_id,
            },
        )
        assert replay.status_code == 400
        assert replay.json() == {"error": "invalid_grant"}
        assert_challenge(bearer_post(mcp_url, second.access_token), oauth_server)


def test_revocation_makes_the_next_call_401(oauth_server, member):
    mcp_url = oauth_server + MCP_PATH
    storage = connect_dynamic_client(mcp_url, member)
    assert bearer_post(mcp_url, storage.tokens.access_token).status_code == 200
    revoke(oauth_server, storage)
    assert_challenge(bearer_post(mcp_url, storage.tokens.access_token), oauth_server)


@pytest.mark.parametrize("mcp_auth_cache_seconds", [5])
def test_with_the_endpoints_token_cache_revocation_still_lands_on_the_next_call(oauth_server, member):
    """The MCP endpoint trusts an accepted token for CODER_MCP_AUTH_CACHE_SECONDS (default 5)
    only while no credential changed: a revoked token is refused on the next call."""
    mcp_url = oauth_server + MCP_PATH
    storage = connect_dynamic_client(mcp_url, member)
    access_token = storage.tokens.access_token
    assert bearer_post(mcp_url, access_token).status_code == 200
    assert bearer_post(mcp_url, access_token).status_code == 200  # now served from the cache
    revoke(oauth_server, storage)
    assert_challenge(bearer_post(mcp_url, access_token), oauth_server)


def test_cimd_client_connects_without_registering(transactional_db, settings, member, request):
    with callback_listener() as (callback, received, arrived):
        document = {
            "client_id": CIMD_CLIENT_ID,
            "client_name": "Metadata document client",
            "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        with document_server({urlsplit(CIMD_CLIENT_ID).path: document}) as origin:
            use_loopback_documents(settings, origin)
            oauth_server = request.getfixturevalue("oauth_server")
            mcp_url = oauth_server + MCP_PATH
            person = BrowserUser(member.username, callback, received, arrived)
            storage = MemoryStorage()
            provider = OAuthClientProvider(
                mcp_url,
                client_metadata(callback),
                storage,
                person.redirect_handler,
                person.callback_handler,
                client_metadata_url=CIMD_CLIENT_ID,
            )
            assert async_to_sync(connect)(mcp_url, provider)[1] == member.username
    assert storage.client_info.client_id == CIMD_CLIENT_ID
    assert "Metadata document client" in person.consent_text
    assert get_application_model().objects.get(client_id=CIMD_CLIENT_ID).registration_source == "cimd"
    assert get_access_token_model().objects.get(user=member).application.client_id == CIMD_CLIENT_ID


def test_pre_registered_confidential_client_connects(oauth_server, member):
    mcp_url = oauth_server + MCP_PATH
    with callback_listener() as (callback, received, arrived):
        application, secret = make_application(confidential=True, redirect_uri=callback)
        client_info = OAuthClientInformationFull(
            client_id=application.client_id,
            client_secret=secret,
            redirect_uris=[callback],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_basic",
        )
        person = BrowserUser(member.username, callback, received, arrived)
        storage = MemoryStorage(client_info)
        provider = OAuthClientProvider(
            mcp_url,
            client_metadata(callback, token_endpoint_auth_method="client_secret_basic"),
            storage,
            person.redirect_handler,
            person.callback_handler,
        )
        assert async_to_sync(connect)(mcp_url, provider)[1] == member.username
    assert "registered itself" not in person.consent_text
    assert "Operator client" in person.consent_text
    assert get_application_model().objects.count() == 1  # no registration happened
    assert get_access_token_model().objects.get(user=member).application == application


def test_user_revokes_the_app_on_the_settings_page(oauth_server, member):
    mcp_url = oauth_server + MCP_PATH
    storage = connect_dynamic_client(mcp_url, member)

    async def revoke_in_browser() -> tuple[str, str]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = await browser.new_page()
                await page.goto(oauth_server + "/settings/authorized-apps")
                await page.fill("#id_username", member.username)
                await page.fill("#id_password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_load_state()
                listed = await page.inner_text("main")
                await page.click("button[aria-label='Revoke SDK end-to-end client']")
                await page.wait_for_load_state()
                return listed, await page.inner_text("main")
            finally:
                await browser.close()

    listed, after = async_to_sync(revoke_in_browser)()
    assert "SDK end-to-end client (registered itself)" in listed
    assert "Access revoked." in after and "No application can act as you." in after
    assert_challenge(bearer_post(mcp_url, storage.tokens.access_token), oauth_server)
