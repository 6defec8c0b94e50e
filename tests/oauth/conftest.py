import pytest


@pytest.fixture
def oauth2_on(enable_experiments):
    enable_experiments("oauth2", "mcp-server-http")
