"""The admin shows tokens masked and never finds one by its secret."""

import pytest

from oauth.services import api_key_create


@pytest.mark.django_db
def test_token_list_is_masked_and_not_searchable_by_secret(admin_client, member):
    key, raw = api_key_create(actor=member, user=member, name="laptop")
    secret = raw.split("-")[1]
    page = admin_client.get("/admin/oauth/apikey/").content.decode()
    assert key.masked in page and "laptop" in page
    assert secret not in page and key.hashed_secret not in page

    def found(query: str) -> bool:
        return key.masked in admin_client.get("/admin/oauth/apikey/", {"q": query}).content.decode()

    assert found("laptop") and found(member.username)
    assert not found(secret) and not found(raw) and not found(key.hashed_secret)

    detail = admin_client.get(f"/admin/oauth/apikey/{key.pk}/change/").content.decode()
    assert key.masked in detail and key.hashed_secret not in detail and secret not in detail


@pytest.mark.django_db
def test_tokens_are_not_made_in_the_admin_but_can_be_deleted(admin_client, member):
    key, _ = api_key_create(actor=member, user=member, name="laptop")
    assert admin_client.get("/admin/oauth/apikey/add/").status_code == 403
    response = admin_client.post(f"/admin/oauth/apikey/{key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not member.api_keys.exists()
