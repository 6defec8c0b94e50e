"""The OAuth2 authorization server: django-oauth-toolkit configured for MCP clients."""
