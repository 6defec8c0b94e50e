import pytest


@pytest.fixture
def oauth2_on(enable_experiments):
    enable_experiments("oauth2", "mcp-server-http")


@pytest.fixture
def mcp_auth_cache_seconds() -> int:
    return 0


@pytest.fixture
def oauth_server(transactional_db, settings, enable_experiments, mcp_auth_cache_seconds):
    """A real Daphne whose access URL is its own address, so the issuer, the resource and
    every metadata URL are the ones a client really connects to. Yields the base URL.

    Settings a test changes must be changed before this fixture starts (the server is a fork).
    The MCP endpoint's accepted-token cache is off unless a test parametrizes
    ``mcp_auth_cache_seconds``, so "revoked, then the next call is refused" is observable at once.
    """
    from django.db import connection

    from oauth.oauth2.policy import MCP_PATH
    from tests.conftest import running_daphne
    from tests.helpers import free_port

    enable_experiments("oauth2", "mcp-server-http")
    settings.CODER_MCP_AUTH_CACHE_SECONDS = mcp_auth_cache_seconds
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings.CODER_ACCESS_URL = url
    settings.CODER_MCP_URL = url + MCP_PATH
    settings.CSRF_TRUSTED_ORIGINS = [url]
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_ISS_ENDPOINT": url,
        "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": url + MCP_PATH,
    }
    with running_daphne(connection.settings_dict["NAME"], port=port):
        yield url
