from tests.mcp_server.conftest import mcp_experiment, mcp_url, member_headers  # noqa: F401 (shared fixtures)
