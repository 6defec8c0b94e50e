"""REST for session tokens: ``/api/v2/users/{user}/keys/...``, for the owner, a member and a stranger."""

import httpx
import pytest
from django.test import Client

from oauth.models import APIKey
from oauth.services import api_key_create

DAY_NS = 86400 * 10**9


def token_client(user, name: str = "client") -> tuple[Client, str]:
    """A test client authenticating with a fresh token of ``user`` in the Coder header."""
    _, raw = api_key_create(actor=user, user=user, name=name)
    return Client(headers={"Coder-Session-Token": raw}), raw


@pytest.mark.django_db
def test_create_list_get_delete_my_token(member):
    client, _ = token_client(member)
    response = client.post(
        "/api/v2/users/me/keys/tokens",
        {"token_name": "laptop", "lifetime": 7 * DAY_NS},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    raw = response.json()["key"]
    key = APIKey.objects.get(name="laptop")
    assert raw.startswith(f"{key.id}-") and key.lifetime_seconds == 7 * 86400 and key.user == member

    listed = client.get("/api/v2/users/me/keys/tokens").json()
    assert sorted(item["token_name"] for item in listed) == ["client", "laptop"]
    laptop = next(item for item in listed if item["token_name"] == "laptop")
    assert laptop["id"] == key.id and laptop["username"] == member.username and laptop["scope"] == "all"
    assert laptop["lifetime_seconds"] == 7 * 86400 and laptop["login_type"] == "token"
    assert raw.split("-")[1] not in str(listed), "the secret is never listed"

    assert client.get("/api/v2/users/me/keys/tokens/laptop").json() == laptop
    assert client.get(f"/api/v2/users/{member.username}/keys/{key.id}").json() == laptop

    assert client.delete(f"/api/v2/users/me/keys/{key.id}").status_code == 204
    assert not APIKey.objects.filter(pk=key.pk).exists()
    assert client.get("/api/v2/users/me/keys/tokens/laptop").status_code == 404
    assert Client(headers={"Coder-Session-Token": raw}).get("/api/v2/users/me").status_code == 401


@pytest.mark.django_db
def test_create_defaults_and_errors(member, settings):
    client, _ = token_client(member)
    url = "/api/v2/users/me/keys/tokens"
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 201
    generated = APIKey.objects.exclude(name="client").get()
    assert generated.name.startswith("token-") and generated.lifetime_seconds == 30 * 86400

    response = client.post(url, {"token_name": "client"}, content_type="application/json")
    assert response.status_code == 409 and "already exists" in response.json()["message"]

    settings.CODER_MAX_TOKEN_LIFETIME = 10 * 86400
    response = client.post(url, {"token_name": "long", "lifetime": 11 * DAY_NS}, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["validations"][0]["field"] == "lifetime" and "at most 10d" in body["validations"][0]["detail"]

    for bad in ({"token_name": "has space"}, {"lifetime": "soon"}, {"lifetime": -1}, {"scope": "root"}):
        response = client.post(url, bad, content_type="application/json")
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["validations"]
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    assert not APIKey.objects.filter(name__in=["long", "has space"]).exists()


@pytest.mark.django_db
def test_a_stranger_sees_nothing_of_another_users_tokens(member, stranger):
    key, _ = api_key_create(actor=member, user=member, name="mine")
    client, _ = token_client(stranger)
    base = f"/api/v2/users/{member.username}/keys"
    assert client.get(f"{base}/tokens").status_code == 404
    assert client.post(f"{base}/tokens", {"token_name": "x"}, content_type="application/json").status_code == 404
    assert client.get(f"{base}/tokens/mine").status_code == 404
    assert client.delete(f"{base}/{key.id}").status_code == 404
    assert client.delete(f"/api/v2/users/me/keys/{key.id}").status_code == 404, "not through their own path either"
    assert client.get("/api/v2/users/nobody/keys/tokens").status_code == 404
    assert APIKey.objects.filter(pk=key.pk).exists()
    listed = client.get("/api/v2/users/me/keys/tokens", {"include_all": "true"}).json()
    assert [item["username"] for item in listed] == [stranger.username]


@pytest.mark.django_db
def test_an_owner_manages_everyones_tokens(owner, member):
    key, _ = api_key_create(actor=member, user=member, name="mine")
    client, _ = token_client(owner)
    listed = client.get(f"/api/v2/users/{member.username}/keys/tokens").json()
    assert [item["id"] for item in listed] == [key.id]
    everyone = client.get("/api/v2/users/me/keys/tokens", {"include_all": "true"}).json()
    assert {item["username"] for item in everyone} == {owner.username, member.username}
    response = client.post(
        f"/api/v2/users/{member.pk}/keys/tokens", {"token_name": "for-mike"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert APIKey.objects.get(name="for-mike").user == member
    assert client.delete(f"/api/v2/users/{member.username}/keys/{key.id}").status_code == 204
    assert not APIKey.objects.filter(pk=key.pk).exists()


@pytest.mark.django_db
def test_unauthenticated_token_calls_get_401(member):
    key, _ = api_key_create(actor=member, user=member, name="mine")
    client = Client()
    for method, url in (
        ("get", "/api/v2/users/me/keys/tokens"),
        ("post", "/api/v2/users/me/keys/tokens"),
        ("delete", f"/api/v2/users/me/keys/{key.id}"),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers


@pytest.mark.django_db
def test_a_cookie_token_needs_csrf_for_writes(member):
    _, raw = api_key_create(actor=member, user=member, name="cookie")
    client = Client(enforce_csrf_checks=True)
    client.cookies["coder_session_token"] = raw
    assert client.get("/api/v2/users/me/keys/tokens").status_code == 200
    response = client.post("/api/v2/users/me/keys/tokens", {"token_name": "x"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["message"]
    header_client = Client(enforce_csrf_checks=True, headers={"Coder-Session-Token": raw})
    response = header_client.post("/api/v2/users/me/keys/tokens", {"token_name": "x"}, content_type="application/json")
    assert response.status_code == 201


def test_token_lifecycle_over_real_http(daphne_server, member):
    _, raw = api_key_create(actor=member, user=member, name="bootstrap")
    with httpx.Client(base_url=daphne_server, headers={"Coder-Session-Token": raw}, timeout=10) as http:
        created = http.post("/api/v2/users/me/keys/tokens", json={"token_name": "over-http"})
        assert created.status_code == 201
        new_raw = created.json()["key"]
        me = http.get("/api/v2/users/me", headers={"Coder-Session-Token": new_raw})
        assert me.json()["username"] == member.username
        key_id = new_raw.split("-")[0]
        assert http.delete(f"/api/v2/users/me/keys/{key_id}").status_code == 204
        gone = http.get("/api/v2/users/me", headers={"Coder-Session-Token": new_raw})
        assert gone.status_code == 401 and gone.json()["detail"] == "API key is invalid."
