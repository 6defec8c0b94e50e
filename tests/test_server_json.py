"""server.json, the MCP Registry manifest, checked against the registry schema's rules.

The schema (2025-12-11, draft-07) cannot be downloaded here, so its rules are encoded below.
"""

import json
import re

import pytest

from coderproject import __version__
from tests.helpers import ROOT

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
VERSION_RANGE = re.compile(r"[\^~*<>=xX|]|\s-\s|^\d+(\.\d+)?$")
ICON_TYPES = {"image/png", "image/jpeg", "image/svg+xml", "image/webp"}


def manifest_problems(manifest: dict) -> list[str]:
    problems = []
    name = manifest.get("name", "")
    if not (3 <= len(name) <= 200 and NAME.match(name)):
        problems.append(f"name {name!r}: reverse-DNS namespace, one slash, 3-200 chars")
    elif "." not in name.split("/")[0]:
        problems.append(f"name {name!r}: the namespace must be reverse-DNS (e.g. io.github.owner)")
    if not 1 <= len(manifest.get("description", "")) <= 100:
        problems.append("description: 1-100 characters")
    version = manifest.get("version", "")
    if not version or len(version) > 255 or VERSION_RANGE.search(version) or version == "latest":
        problems.append(f"version {version!r}: a concrete version, at most 255 chars, no ranges")
    repository = manifest.get("repository")
    if repository is not None and not {"url", "source"} <= repository.keys():
        problems.append("repository: needs url and source")
    for remote in manifest.get("remotes", []):
        if not {"type", "url"} <= remote.keys():
            problems.append("remote: needs type and url")
        if remote.get("type") not in ("streamable-http", "sse"):
            problems.append(f"remote type {remote.get('type')!r}")
        for variable in re.findall(r"{(\w+)}", remote.get("url", "")):
            if variable not in remote.get("variables", {}):
                problems.append(f"remote url variable {variable!r} is not declared")
        for header in remote.get("headers", []):
            if not isinstance(header, dict) or "name" not in header:
                problems.append("remote headers: a list of objects with a name")
    for icon in manifest.get("icons", []):
        if not icon.get("src", "").startswith("https://") or icon.get("mimeType") not in ICON_TYPES:
            problems.append(f"icon {icon.get('src')!r}: https src and an image mimeType")
    return problems


def test_server_json_follows_the_registry_schema():
    manifest = json.loads((ROOT / "server.json").read_text())
    assert manifest["$schema"] == SCHEMA
    assert manifest_problems(manifest) == []
    assert manifest["version"] == __version__
    (remote,) = manifest["remotes"]
    assert remote == {**remote, "type": "streamable-http", "url": "{access_url}/api/experimental/mcp/http"}
    assert remote["variables"]["access_url"]["isRequired"] is True
    (token_header,) = remote["headers"]
    assert token_header == {**token_header, "name": "Coder-Session-Token", "isSecret": True, "isRequired": False}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "no-slash"}, "name"),
        ({"name": "nodots/server"}, "reverse-DNS"),
        ({"description": "x" * 101}, "description"),
        ({"version": "^1.2"}, "version"),
        ({"version": "1.x"}, "version"),
        ({"version": ">=1"}, "version"),
        ({"repository": {"url": "https://github.com/a/b"}}, "repository"),
        ({"remotes": [{"type": "streamable-http"}]}, "remote"),
        ({"remotes": [{"type": "streamable-http", "url": "{host}/mcp"}]}, "variable"),
        ({"icons": [{"src": "http://example.com/a.png", "mimeType": "image/png"}]}, "icon"),
    ],
)
def test_the_rules_catch_what_the_registry_refuses(change, problem):
    manifest = {**json.loads((ROOT / "server.json").read_text()), **change}
    assert any(problem in p for p in manifest_problems(manifest))
