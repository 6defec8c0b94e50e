"""Users see and revoke authorized apps; operators manage applications; stale clients go."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from tests.oauth.oauth2_helpers import exchange, get_code, make_application, pkce_pair, refresh, register

pytestmark = pytest.mark.usefixtures("oauth2_on")


def connect(client: Client, application) -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(client, application.client_id, challenge)
    return exchange(client, code, verifier, application.client_id).json()


def test_member_sees_and_revokes_an_authorized_app(member_client, member, db):
    application, _ = make_application()
    tokens = connect(member_client, application)
    page = member_client.get("/settings/authorized-apps")
    assert page.status_code == 200
    assert b"Operator client" in page.content
    assert b'<a href="/settings/authorized-apps">Authorized apps</a>' in member_client.get("/").content

    response = member_client.post("/settings/authorized-apps", {"application_id": application.pk})
    assert response.status_code == 302
    assert not get_access_token_model().objects.filter(user=member).exists()
    assert refresh(member_client, tokens["refresh_token"], application.client_id).json() == {"error": "invalid_grant"}
    assert b"No application can act as you." in member_client.get("/settings/authorized-apps").content


def test_stranger_cannot_revoke_someone_elses_app(member_client, member, stranger, db):
    application, _ = make_application()
    connect(member_client, application)
    stranger_client = Client()
    stranger_client.force_login(stranger)
    assert b"Operator client" not in stranger_client.get("/settings/authorized-apps").content
    response = stranger_client.post("/settings/authorized-apps", {"application_id": application.pk})
    assert response.status_code == 404
    assert get_access_token_model().objects.filter(user=member).count() == 1
    assert stranger_client.post("/settings/authorized-apps", {"application_id": "x"}).status_code == 404


def test_authorized_apps_page_needs_login_and_the_experiment(client, member_client, enable_experiments, db):
    assert client.get("/settings/authorized-apps")["Location"].startswith("/login")
    enable_experiments()
    assert member_client.get("/settings/authorized-apps").status_code == 403
    assert b"Authorized apps" not in member_client.get("/").content


def test_admin_lists_applications_without_secrets(admin_client, client, db):
    _, registered = register(client, client_name="Claude", token_endpoint_auth_method="client_secret_basic")
    page = admin_client.get("/admin/oauth2_provider/application/").content.decode()
    assert "Claude" in page
    assert registered["client_secret"] not in page
    application = get_application_model().objects.get(client_id=registered["client_id"])
    change = admin_client.get(f"/admin/oauth2_provider/application/{application.pk}/change/").content.decode()
    assert registered["client_secret"] not in change


def test_admin_refuses_trusting_a_self_registered_client(admin_client, client, db):
    _, registered = register(client)
    application = get_application_model().objects.get(client_id=registered["client_id"])
    form = {
        "client_id": application.client_id,
        "redirect_uris": application.redirect_uris,
        "post_logout_redirect_uris": "",
        "client_type": "public",
        "authorization_grant_type": "authorization-code",
        "client_secret": "",
        "hash_client_secret": "on",
        "name": "Trusted?",
        "skip_authorization": "on",
        "algorithm": "",
        "allowed_origins": "",
    }
    response = admin_client.post(f"/admin/oauth2_provider/application/{application.pk}/change/", form)
    assert response.status_code == 200
    assert "A client that registered itself can never skip the consent page." in response.content.decode()
    application.refresh_from_db()
    assert application.skip_authorization is False

    form.update(skip_authorization="", redirect_uris="http://example.com/cb")
    response = admin_client.post(f"/admin/oauth2_provider/application/{application.pk}/change/", form)
    assert "uses http to a host that is not loopback" in response.content.decode()


def test_clean_clients_removes_only_stale_dynamic_ones(member_client, client, db):
    _, never_used = register(client, client_name="never used")
    _, active = register(client, client_name="active")
    _, idle = register(client, client_name="idle")
    operator_app, _ = make_application()
    Application = get_application_model()
    connect(member_client, Application.objects.get(client_id=active["client_id"]))
    connect(member_client, Application.objects.get(client_id=idle["client_id"]))
    long_ago = timezone.now() - timedelta(days=60)
    Application.objects.update(created=long_ago)
    get_access_token_model().objects.filter(application__client_id=idle["client_id"]).update(
        expires=long_ago, created=long_ago
    )
    get_refresh_token_model().objects.filter(application__client_id=idle["client_id"]).update(created=long_ago)

    call_command("oauth2_clean_clients")
    remaining = set(Application.objects.values_list("client_id", flat=True))
    assert remaining == {active["client_id"], operator_app.client_id}
    call_command("oauth2_clean_clients")  # idempotent
    assert set(Application.objects.values_list("client_id", flat=True)) == remaining
