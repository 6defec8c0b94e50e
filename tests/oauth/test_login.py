import pytest
from django.test import Client

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_wrong_password_is_refused(member):
    response = Client().post("/login", {"username": member.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


@pytest.mark.django_db
def test_suspended_user_is_told_why(member):
    member.is_active = False
    member.save()
    client = Client()
    response = client.post("/login", {"username": member.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "This account is suspended" in response.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_active_user_signs_in(member):
    client = Client()
    response = client.post("/login", {"username": member.username, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert member.display_name in client.get("/").content.decode()


@pytest.mark.django_db
def test_suspending_ends_an_existing_browser_session(member_client, member):
    assert member_client.get("/").status_code == 200
    member.is_active = False
    member.save()
    assert member_client.get("/").status_code == 302
