"""A real Daphne with its embedded provisioners: REST over HTTP with a session token, and
builds run by the server's own workers."""

import time

import httpx
import pytest

from oauth.services import api_key_create
from workspaces.services import template_ensure_starter


def wait_for(client: httpx.Client, url: str, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if predicate(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} never matched; last: {body}")


def agent_of(workspace: dict) -> dict | None:
    agents = workspace["latest_build"]["resources"][0]["agents"]
    return agents[0] if agents else None


@pytest.mark.slow
def test_workspace_started_and_stopped_by_the_servers_provisioners(daphne_server, owner, member, stranger):
    template_ensure_starter()
    _, member_token = api_key_create(actor=member, user=member)
    _, stranger_token = api_key_create(actor=stranger, user=stranger)
    with httpx.Client(base_url=daphne_server, headers={"Coder-Session-Token": member_token}, timeout=30) as api:
        template = api.get("/api/v2/templates").json()[0]
        assert template["name"] == "starter"
        created = api.post("/api/v2/users/me/workspaces", json={"name": "live", "template_id": template["id"]})
        assert created.status_code == 201, created.text
        url = f"/api/v2/workspaces/{created.json()['id']}"
        ready = wait_for(api, url, lambda w: agent_of(w) and agent_of(w)["lifecycle_state"] == "ready")
        assert ready["status"] == "running" and ready["latest_build"]["job"]["worker_id"]
        logs = api.get(f"/api/v2/workspaceagents/{agent_of(ready)['id']}/logs").json()
        assert logs[0]["output"].startswith("Workspace live of mike is ready")

        stop = api.post(f"{url}/builds", json={"transition": "stop"})
        assert stop.status_code == 201
        stopped = wait_for(api, url, lambda w: w["status"] == "stopped")
        assert stopped["latest_build"]["build_number"] == 2

        outsider = httpx.get(f"{daphne_server}{url}", headers={"Coder-Session-Token": stranger_token})
        assert outsider.status_code == 404
        assert httpx.get(f"{daphne_server}{url}").status_code == 401
