"""The REST API through Django's test client: Coder's shapes, field-level 400s, the cast."""

import json

import pytest
from rest_framework.test import APIClient

from tests.workspaces.conftest import push_template, run_jobs
from workspaces.manifest import archive_from_files

PARAMETERS = """
[[parameters]]
name = "size"
type = "number"
default = 1
validation = { min = 1, max = 4 }

[[parameters]]
name = "team"
"""


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def member_api(member):
    return client_for(member)


def create_workspace(api, template, name="dev", **parameters):
    values = [{"name": key, "value": value} for key, value in parameters.items()]
    return api.post(
        "/api/v2/users/me/workspaces",
        {"name": name, "template_id": str(template.id), "rich_parameter_values": values},
        format="json",
    )


def test_anonymous_is_refused(db):
    assert APIClient().get("/api/v2/workspaces").status_code == 401


def test_template_flow_upload_version_create(owner):
    api = client_for(owner)
    archive = archive_from_files({"template.toml": PARAMETERS, "home/hello.txt": "hi"})
    uploaded = api.post("/api/v2/files", archive, content_type="application/x-tar")
    assert uploaded.status_code == 201
    file_id = uploaded.json()["hash"]
    created = api.post("/api/v2/templateversions", {"file_id": file_id}, format="json")
    assert created.status_code == 201 and created.json()["job"]["status"] == "pending"
    version_id = created.json()["id"]
    run_jobs()
    version = api.get(f"/api/v2/templateversions/{version_id}").json()
    assert version["job"]["status"] == "succeeded" and version["template_id"] is None
    logs = api.get(f"/api/v2/templateversions/{version_id}/logs").json()
    assert any(line["output"] == "Parameter team (string, required, mutable)" for line in logs)
    after = api.get(f"/api/v2/templateversions/{version_id}/logs", {"after": logs[-2]["id"]}).json()
    assert after == logs[-1:]
    parameters = api.get(f"/api/v2/templateversions/{version_id}/rich-parameters").json()
    assert [(p["name"], p["type"], p["required"], p["validation_max"]) for p in parameters] == [
        ("size", "number", False, 4.0),
        ("team", "string", True, None),
    ]
    template = api.post(
        "/api/v2/templates",
        {"name": "sized", "display_name": "Sized", "description": "d", "template_version_id": version_id},
        format="json",
    )
    assert template.status_code == 201
    body = template.json()
    assert body["active_version_id"] == version_id and body["active_user_count"] == 0
    listed = api.get("/api/v2/templates").json()
    assert [t["name"] for t in listed] == ["sized"]
    versions = api.get(f"/api/v2/templates/{body['id']}/versions").json()
    assert [v["id"] for v in versions] == [version_id]


def test_invalid_manifest_is_a_field_level_400(owner):
    api = client_for(owner)
    archive = archive_from_files({"template.toml": "[[parameters]]\nname = 'x'\ntype = 'int'\n"})
    file_id = api.post("/api/v2/files", archive, content_type="application/x-tar").json()["hash"]
    refused = api.post("/api/v2/templateversions", {"file_id": file_id}, format="json")
    assert refused.status_code == 400
    assert refused.json()["validations"] == [
        {
            "field": "file_id",
            "detail": "template.toml: parameters[0].type: must be one of string, number, bool, list(string), got 'int'",
        }
    ]
    bad_uuid = api.post("/api/v2/templateversions", {"file_id": "nope"}, format="json")
    assert bad_uuid.status_code == 400 and bad_uuid.json()["validations"][0]["field"] == "file_id"


def test_member_cannot_manage_templates(member_api, starter):
    assert member_api.post("/api/v2/files", b"x", content_type="application/x-tar").status_code == 403
    assert member_api.delete(f"/api/v2/templates/{starter.id}").status_code == 403
    assert member_api.get(f"/api/v2/templates/{starter.id}").json()["name"] == "starter"


def test_workspace_create_errors_are_field_level(owner, member_api):
    template = push_template(owner, "sized", PARAMETERS)
    cases = [
        ({"team": "a", "colour": "red"}, "rich_parameters.colour", "Unknown parameter 'colour'"),
        ({"team": "a", "size": "big"}, "rich_parameters.size", "must be a number"),
        ({}, "rich_parameters.team", "Parameter 'team' is required."),
    ]
    for parameters, field, message in cases:
        response = create_workspace(member_api, template, **parameters)
        assert response.status_code == 400, response.json()
        (validation,) = response.json()["validations"]
        assert validation["field"] == field and message in validation["detail"]
    assert create_workspace(member_api, template, team="a").status_code == 201
    clash = create_workspace(member_api, template, team="b")
    assert clash.status_code == 400 and clash.json()["validations"][0]["field"] == "name"
    missing = member_api.post("/api/v2/users/me/workspaces", {"name": "x"}, format="json")
    assert missing.status_code == 400 and missing.json()["validations"][0]["field"] == "template_version_id"
    bad_name = member_api.post(
        "/api/v2/users/me/workspaces", {"name": "no spaces", "template_id": str(template.id)}, format="json"
    )
    assert bad_name.status_code == 400 and bad_name.json()["validations"][0]["field"] == "name"


def test_workspace_builds_and_logs(member, member_api, starter, stranger):
    created = create_workspace(member_api, starter)
    assert created.status_code == 201
    workspace = created.json()
    assert workspace["owner_name"] == "mike" and workspace["latest_build"]["status"] == "pending"
    assert workspace["template_name"] == "starter" and workspace["outdated"] is False
    run_jobs()
    fetched = member_api.get(f"/api/v2/workspaces/{workspace['id']}").json()
    build = fetched["latest_build"]
    assert fetched["status"] == "running" and build["job"]["status"] == "succeeded"
    (agent,) = build["resources"][0]["agents"]
    assert agent["lifecycle_state"] == "ready" and agent["status"] == "connected"
    agent_logs = member_api.get(f"/api/v2/workspaceagents/{agent['id']}/logs").json()
    assert "Workspace dev of mike is ready" in agent_logs[0]["output"]
    assert member_api.get("/api/v2/users/mike/workspace/dev").json()["id"] == workspace["id"]

    again = member_api.post(f"/api/v2/workspaces/{workspace['id']}/builds", {"transition": "start"}, format="json")
    assert again.status_code == 400
    assert again.json()["validations"][0]["field"] == "transition"
    assert again.json()["message"] == "Cannot start a workspace that is running."
    unknown = member_api.post(f"/api/v2/workspaces/{workspace['id']}/builds", {"transition": "pause"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["validations"][0]["field"] == "transition"

    stop = member_api.post(f"/api/v2/workspaces/{workspace['id']}/builds", {"transition": "stop"}, format="json")
    assert stop.status_code == 201 and stop.json()["build_number"] == 2
    busy = member_api.post(f"/api/v2/workspaces/{workspace['id']}/builds", {"transition": "start"}, format="json")
    assert busy.status_code == 409
    run_jobs()
    stopped = member_api.get(f"/api/v2/workspacebuilds/{stop.json()['id']}").json()
    assert stopped["status"] == "stopped" and stopped["initiator_name"] == "mike"
    builds = member_api.get(f"/api/v2/workspaces/{workspace['id']}/builds").json()
    assert [b["build_number"] for b in builds] == [2, 1]
    logs = member_api.get(f"/api/v2/workspacebuilds/{stop.json()['id']}/logs").json()
    assert logs[-1]["output"] == "Workspace stopped" and logs[-1]["log_source"] == "provisioner"

    stranger_api = client_for(stranger)
    for url in (
        f"/api/v2/workspaces/{workspace['id']}",
        "/api/v2/users/mike/workspace/dev",
        f"/api/v2/workspacebuilds/{stop.json()['id']}",
        f"/api/v2/workspacebuilds/{stop.json()['id']}/logs",
        f"/api/v2/workspaceagents/{agent['id']}/logs",
    ):
        response = stranger_api.get(url)
        assert response.status_code == 404, url
        assert response.json()["message"] == "Resource not found or you do not have access to this resource"
    refused = stranger_api.post(f"/api/v2/workspaces/{workspace['id']}/builds", {"transition": "delete"}, format="json")
    assert refused.status_code == 404
    assert member_api.get("/api/v2/workspaces/not-a-uuid").status_code == 404


def test_workspace_list_filters_and_pagination(owner, member, member_api, starter):
    owner_api = client_for(owner)
    for name in ("alpha", "beta", "gamma"):
        assert create_workspace(member_api, starter, name=name).status_code == 201
    assert create_workspace(owner_api, starter, name="alpha").status_code == 201
    mine = member_api.get("/api/v2/workspaces", {"q": "owner:me"}).json()
    assert mine["count"] == 3 and [w["name"] for w in mine["workspaces"]] == ["alpha", "beta", "gamma"]
    everyone = owner_api.get("/api/v2/workspaces").json()
    assert everyone["count"] == 4
    page = owner_api.get("/api/v2/workspaces", {"q": "owner:mike", "limit": 2, "offset": 1}).json()
    assert page["count"] == 3 and [w["name"] for w in page["workspaces"]] == ["beta", "gamma"]
    named = owner_api.get("/api/v2/workspaces", {"q": "name:alp"}).json()
    assert sorted(w["owner_name"] for w in named["workspaces"]) == ["mike", "olivia"]
    bad = owner_api.get("/api/v2/workspaces", {"q": "colour:red"})
    assert bad.status_code == 400 and bad.json()["validations"][0]["field"] == "q"
    bad_limit = owner_api.get("/api/v2/workspaces", {"limit": "-1"})
    assert bad_limit.status_code == 400 and bad_limit.json()["validations"][0]["field"] == "limit"


def test_template_delete_refused_while_used(owner, member_api, starter):
    api = client_for(owner)
    create_workspace(member_api, starter)
    refused = api.delete(f"/api/v2/templates/{starter.id}")
    assert refused.status_code == 409 and "used by 1 workspace" in refused.json()["message"]


def test_openapi_schema(member_api):
    response = member_api.get("/api/v2/openapi.json")
    assert response.status_code == 200
    assert response["content-type"] == "application/vnd.oai.openapi+json"
    paths = json.loads(response.content)["paths"]
    assert "/api/v2/workspaces/{workspace_id}/builds" in paths and "/api/v2/templateversions" in paths


def test_cancel_a_build(member_api, starter, stranger):
    workspace = create_workspace(member_api, starter).json()
    build_id = workspace["latest_build"]["id"]
    assert client_for(stranger).patch(f"/api/v2/workspacebuilds/{build_id}/cancel").status_code == 404
    assert member_api.patch(f"/api/v2/workspacebuilds/{build_id}/cancel").status_code == 200
    build = member_api.get(f"/api/v2/workspacebuilds/{build_id}").json()
    assert build["status"] == "canceled" and build["job"]["status"] == "canceled"
    assert member_api.patch(f"/api/v2/workspacebuilds/{build_id}/cancel").status_code == 409
