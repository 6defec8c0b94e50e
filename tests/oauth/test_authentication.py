"""The one authentication path: where a token is looked for, what is refused, and how."""

import hashlib
import itertools
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from oauth.authentication import (
    AuthError,
    aauthenticate_raw_token,
    authenticate_raw_token,
    find_raw_token,
    unauthorized_response,
)
from oauth.models import APIKey
from oauth.services import api_key_create, api_key_mark_used

ME = "/api/v2/users/me"
INVALID_CHALLENGE = 'Bearer realm="coder", error="invalid_token", error_description="The access token is invalid"'
EXPIRED_CHALLENGE = 'Bearer realm="coder", error="invalid_token", error_description="The access token has expired"'


def make_token(user, **fields) -> tuple[APIKey, str]:
    return api_key_create(actor=user, user=user, **fields)


def assert_refused(response, challenge: str = INVALID_CHALLENGE) -> dict:
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"] == challenge
    body = response.json()
    assert set(body) == {"message", "detail"} and body["message"] and body["detail"]
    return body


# --- The token itself -------------------------------------------------------------------


@pytest.mark.django_db
def test_token_has_coder_format_and_only_the_secret_hash_is_stored(member):
    key, raw = make_token(member, name="laptop")
    key_id, secret = raw.split("-")
    assert len(key_id) == 10 and key_id.isalnum() and key_id.isascii()
    assert len(secret) == 22 and secret.isalnum() and secret.isascii()
    assert key.id == key_id
    row = APIKey.objects.filter(pk=key_id).values().get()
    assert row["hashed_secret"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in row.values())


@pytest.mark.django_db
def test_defaults_are_thirty_days_scope_all_login_type_token(member):
    before = timezone.now()
    key, _ = make_token(member)
    assert key.lifetime_seconds == 30 * 86400
    assert before + timedelta(days=30) <= key.expires_at <= timezone.now() + timedelta(days=30)
    assert key.scope == "all" and key.login_type == "token"
    assert key.name.startswith("token-") and key.last_used is None


@pytest.mark.django_db
def test_names_are_unique_per_user_only(member, stranger):
    make_token(member, name="ci")
    with pytest.raises(ValidationError) as excinfo:
        make_token(member, name="ci")
    assert excinfo.value.error_dict["token_name"][0].code == "duplicate"
    other, _ = make_token(stranger, name="ci")
    assert other.user == stranger


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["has space", "-leading", "a/b", "ü", "x" * 65])
def test_bad_names_are_refused(member, name):
    with pytest.raises(ValidationError) as excinfo:
        make_token(member, name=name)
    assert "token_name" in excinfo.value.error_dict


@pytest.mark.django_db
def test_lifetime_is_capped_by_the_setting(member, settings):
    settings.CODER_MAX_TOKEN_LIFETIME = 7 * 86400
    key, _ = make_token(member, name="default")
    assert key.lifetime_seconds == 7 * 86400, "the default shrinks to the cap"
    key, _ = make_token(member, name="at-cap", lifetime=timedelta(days=7))
    assert key.lifetime_seconds == 7 * 86400
    for lifetime in (timedelta(days=7, seconds=1), timedelta(0), timedelta(seconds=-5)):
        with pytest.raises(ValidationError) as excinfo:
            make_token(member, name="too-long", lifetime=lifetime)
        assert "at most 7d" in excinfo.value.error_dict["lifetime"][0].message
    assert not APIKey.objects.filter(name="too-long").exists()


@pytest.mark.django_db
def test_a_member_cannot_make_tokens_for_someone_else(member, stranger, owner):
    from oauth.models import User

    with pytest.raises(User.DoesNotExist):
        api_key_create(actor=member, user=stranger)
    key, _ = api_key_create(actor=owner, user=stranger, name="by-owner")
    assert key.user == stranger


# --- Where a request carries it, and in which order -----------------------------------

PLACES = ("cookie", "query", "header", "bearer", "access_token")


def carrying(place: str, raw: str) -> dict:
    """``find_raw_token`` keyword arguments with ``raw`` in one place."""
    request = {"cookies": {}, "query": {}, "headers": {}}
    if place == "cookie":
        request["cookies"]["coder_session_token"] = raw
    elif place == "query":
        request["query"]["coder_session_token"] = raw
    elif place == "header":
        request["headers"]["coder-session-token"] = raw
    elif place == "bearer":
        request["headers"]["authorization"] = f"Bearer {raw}"
    else:
        request["query"]["access_token"] = raw
    return request


def merged(*requests: dict) -> dict:
    result = {"cookies": {}, "query": {}, "headers": {}}
    for request in requests:
        for part, values in request.items():
            result[part].update(values)
    return result


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(PLACES, 2)))
def test_lookup_order_is_coders(first, second):
    assert find_raw_token(**merged(carrying(second, "later"), carrying(first, "earlier"))) == "earlier"


def test_nothing_found_and_other_schemes_are_ignored():
    assert find_raw_token(cookies={}, query={}, headers={}) is None
    assert find_raw_token(cookies={}, query={}, headers={"authorization": "Basic dXNlcjpwdw=="}) is None
    assert find_raw_token(cookies={}, query={}, headers={"authorization": "Bearer "}) is None


@pytest.mark.django_db
@pytest.mark.parametrize("place", [*PLACES, "bearer-lower", "bearer-upper"])
def test_each_place_authenticates_a_rest_call(member, place):
    _, raw = make_token(member)
    client = Client()
    kwargs: dict = {}
    if place == "cookie":
        client.cookies["coder_session_token"] = raw
    elif place == "query":
        kwargs["data"] = {"coder_session_token": raw}
    elif place == "header":
        kwargs["headers"] = {"Coder-Session-Token": raw}
    elif place.startswith("bearer"):
        scheme = {"bearer": "Bearer", "bearer-lower": "bearer", "bearer-upper": "BEARER"}[place]
        kwargs["headers"] = {"Authorization": f"{scheme} {raw}"}
    else:
        kwargs["data"] = {"access_token": raw}
    response = client.get(ME, **kwargs)
    assert response.status_code == 200, response.content
    assert response.json()["username"] == member.username


@pytest.mark.django_db
def test_the_first_place_decides_even_when_a_later_one_is_valid(member, owner):
    _, member_raw = make_token(member)
    _, owner_raw = make_token(owner)
    client = Client()
    client.cookies["coder_session_token"] = owner_raw
    response = client.get(ME, headers={"Coder-Session-Token": member_raw})
    assert response.json()["username"] == owner.username
    response = Client().get(ME, headers={"Coder-Session-Token": "abc", "Authorization": f"Bearer {member_raw}"})
    assert_refused(response)


# --- What is refused -------------------------------------------------------------------


@pytest.mark.django_db
def test_no_credentials_is_401_with_the_challenge_not_403():
    body = assert_refused(Client().get(ME))
    assert "coder_session_token" in body["detail"]


@pytest.mark.django_db
def test_a_browser_session_still_works(member_client, member):
    assert member_client.get(ME).json()["username"] == member.username


@pytest.mark.django_db
def test_expired_token_is_told_apart(member):
    key, raw = make_token(member)
    APIKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = assert_refused(Client().get(ME, headers={"Coder-Session-Token": raw}), EXPIRED_CHALLENGE)
    assert "expired" in body["detail"]


@pytest.mark.django_db
def test_deleted_token_is_refused(member):
    key, raw = make_token(member)
    assert Client().get(ME, headers={"Coder-Session-Token": raw}).status_code == 200
    key.delete()
    assert assert_refused(Client().get(ME, headers={"Coder-Session-Token": raw}))["detail"] == "API key is invalid."


@pytest.mark.django_db
def test_wrong_secret_with_right_id_is_refused(member):
    key, raw = make_token(member)
    wrong = f"{key.id}-{'A' * 22}"
    assert wrong != raw
    body = assert_refused(Client().get(ME, headers={"Coder-Session-Token": wrong}))
    assert body["detail"] == "API key secret is invalid."


@pytest.mark.django_db
def test_suspended_user_is_refused(member):
    _, raw = make_token(member)
    member.is_active = False
    member.save()
    body = assert_refused(Client().get(ME, headers={"Coder-Session-Token": raw}))
    assert "suspended" in body["message"]


MALFORMED = {
    "abc": "abc",
    "dash": "-",
    "ten-chars": "abcdefghij",
    "id-only": "abcdefghij-",
    "unicode": "ÄbcdéfghÏj-" + "ü" * 22,
    "ten-kb": "a" * 10 * 1024,
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.django_db
def test_malformed_tokens_raise_auth_error(raw):
    with pytest.raises(AuthError) as excinfo:
        authenticate_raw_token(raw)
    assert excinfo.value.status == 401 and excinfo.value.error == "invalid_token"


def test_malformed_tokens_get_a_clean_401_from_the_real_server(daphne_server):
    with httpx.Client(base_url=daphne_server, timeout=10) as http:
        for name, raw in MALFORMED.items():
            if raw.isascii():
                response = http.get(ME, headers={"Coder-Session-Token": raw})
                assert_refused(response)
                response = http.get(ME, headers={"Authorization": f"Bearer {raw}"})
            else:
                response = http.get(ME, headers={"Authorization": f"Bearer {raw}".encode()})
                assert_refused(response)
                response = http.get(ME, params={"coder_session_token": raw})
            assert response.status_code == 401, name
            assert_refused(response)


# --- Side effects and the async twin ------------------------------------------------------


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(member, django_assert_num_queries):
    key, raw = make_token(member)
    credential = authenticate_raw_token(raw)
    key.refresh_from_db()
    member.refresh_from_db()
    first = key.last_used
    assert first is not None and member.last_seen_at == first
    assert credential.user == member and credential.key_id == key.id and credential.kind == "session_token"
    assert credential.scopes == {"all"} and credential.resource is None

    with django_assert_num_queries(1):  # the lookup only: no write
        authenticate_raw_token(raw)
    key.refresh_from_db()
    assert key.last_used == first

    APIKey.objects.filter(pk=key.pk).update(last_used=first - timedelta(minutes=2))
    authenticate_raw_token(raw)
    key.refresh_from_db()
    assert key.last_used > first


@pytest.mark.django_db
def test_mark_used_skips_a_key_another_request_just_touched(member):
    key, _ = make_token(member)
    now = timezone.now()
    APIKey.objects.filter(pk=key.pk).update(last_used=now)
    stale_copy = APIKey.objects.select_related("user").get(pk=key.pk)
    stale_copy.last_used = now - timedelta(minutes=5)
    api_key_mark_used(key=stale_copy, now=now + timedelta(seconds=10))
    key.refresh_from_db()
    assert key.last_used == now


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_async_twin_gives_the_same_answers(member):
    from asgiref.sync import sync_to_async

    key, raw = await sync_to_async(make_token)(member, name="async")
    credential = await aauthenticate_raw_token(raw)
    assert credential.user.pk == member.pk and credential.key_id == key.id
    with pytest.raises(AuthError):
        await aauthenticate_raw_token(f"{key.id}-{'B' * 22}")


def test_unauthorized_response_is_the_one_shape():
    status, body, headers = unauthorized_response(AuthError("Signed out.", "API key is invalid."))
    assert status == 401
    assert body == {"message": "Signed out.", "detail": "API key is invalid."}
    assert headers == {"WWW-Authenticate": INVALID_CHALLENGE}
    status, _, headers = unauthorized_response(
        AuthError("No.", "Scope.", status=403, error="insufficient_scope", description="Needs more")
    )
    assert status == 403
    assert headers["WWW-Authenticate"] == (
        'Bearer realm="coder", error="insufficient_scope", error_description="Needs more"'
    )


# --- The user it stands for ------------------------------------------------------------


@pytest.mark.django_db
def test_users_me_has_coders_shape(owner):
    _, raw = make_token(owner)
    body = Client().get(ME, headers={"Coder-Session-Token": raw}).json()
    owner.refresh_from_db()
    assert body == {
        "id": owner.pk,
        "username": "olivia",
        "name": "Olivia Owner",
        "email": "olivia@example.com",
        "roles": [{"name": "owner", "display_name": "Owner"}],
        "status": "active",
        "created_at": owner.date_joined.isoformat().replace("+00:00", "Z"),
        "last_seen_at": owner.last_seen_at.isoformat().replace("+00:00", "Z"),
    }


def test_token_works_against_the_real_server(daphne_server, member):
    _, raw = make_token(member)
    with httpx.Client(base_url=daphne_server, timeout=10) as http:
        assert http.get(ME, headers={"Authorization": f"Bearer {raw}"}).json()["username"] == member.username
        assert_refused(http.get(ME))
