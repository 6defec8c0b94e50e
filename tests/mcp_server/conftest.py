"""MCP fixtures: the endpoint URL on a real Daphne, and SDK clients for either protocol era."""

import contextlib

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.workspaces.conftest import starter, workspaces_dir  # noqa: F401 (shared fixtures)

MCP_PATH = "/api/experimental/mcp/http"


@pytest.fixture
def mcp_experiment(enable_experiments) -> None:
    enable_experiments("mcp-server-http")


@pytest.fixture
def mcp_url(mcp_experiment, daphne_server) -> str:
    """The MCP endpoint of a real Daphne with the ``mcp-server-http`` experiment on.

    Settings a test changes must be changed by fixtures listed before this one: the
    server is a fork made when this fixture starts.
    """
    return daphne_server + MCP_PATH


@contextlib.asynccontextmanager
async def mcp_client(url: str, *, headers: dict[str, str] | None = None, mode: str = "legacy", **kwargs):
    """The SDK's client over Streamable HTTP: ``mode="legacy"`` = 2025-11-25 sessions, or "2026-07-28"."""
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client,
    ):
        yield client


def token_headers(user) -> dict[str, str]:
    """A fresh session token for ``user``, as the header MCP clients send."""
    from oauth.services import api_key_create

    _key, raw = api_key_create(actor=user, user=user)
    return {"Coder-Session-Token": raw}


@pytest.fixture
def member_headers(member) -> dict[str, str]:
    return token_headers(member)


@pytest.fixture
def stranger_headers(stranger) -> dict[str, str]:
    return token_headers(stranger)
