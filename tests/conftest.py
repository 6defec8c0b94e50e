"""The cast every test shares (an owner, a member, a stranger) and a real Daphne server."""

import contextlib
import functools

import pytest
from django.test import Client

from oauth import roles
from oauth.models import User
from oauth.services import user_set_roles

PASSWORD = "correct horse battery staple"


def make_user(username: str, *role_names: str, **fields) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD, **fields)
    if role_names:
        user_set_roles(user=user, role_names=list(role_names))
    return user


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counts (and other cached state) do not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner(db) -> User:
    return make_user("olivia", roles.OWNER, name="Olivia Owner")


@pytest.fixture
def member(db) -> User:
    return make_user("mike", name="Mike Member")


@pytest.fixture
def stranger(db) -> User:
    return make_user("sam", name="Sam Stranger")


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def admin_client(owner) -> Client:
    """The owner, signed in to the admin."""
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def enable_experiments(settings):
    """Set the enabled experiments for one test: ``enable_experiments("oauth2")``."""
    from coderproject.experiments import parse

    def set_experiments(*names: str) -> None:
        settings.CODER_EXPERIMENTS = parse(list(names))

    return set_experiments


def _application():
    from channels.routing import get_default_application

    return get_default_application()


def _use_test_database(test_db_name: str) -> None:
    from django.conf import settings
    from django.db import connections

    settings.DATABASES["default"]["NAME"] = test_db_name
    connections.close_all()
    # Threads do not survive fork: if this test process already ran async ORM calls, the
    # inherited sync_to_async executor has no thread here and every call would hang.
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    _start_provisioners()


def _start_provisioners() -> None:
    """Builds complete in live-server tests: the child runs embedded workers like the server."""
    from workspaces.provisioner import start_embedded_provisioners

    start_embedded_provisioners()


@contextlib.contextmanager
def running_daphne(test_db_name: str, port: int | None = None):
    """A forked Daphne serving the whole ASGI application on the test database; yields its URL."""
    from daphne.testing import DaphneProcess
    from django.db import connections

    # The child must not inherit an open database connection: closing it there would end
    # the parent's session on the server too (PostgreSQL drops the shared socket).
    connections.close_all()
    setup = functools.partial(_use_test_database, test_db_name)
    process = DaphneProcess("127.0.0.1", _application, setup=setup, port=port)
    process.start()
    if not process.ready.wait(timeout=30):
        process.terminate()
        if not process.errors.empty():
            error, trace = process.errors.get(timeout=1)
            pytest.fail(f"Daphne did not start: {error}\n{trace}")
        pytest.fail("Daphne did not start within 30 s")
    try:
        yield f"http://127.0.0.1:{process.port.value}"
    finally:
        process.terminate()
        process.join(timeout=10)


@pytest.fixture
def daphne_server(transactional_db, settings):
    """A real Daphne serving the whole ASGI application on a free loopback port.

    Yields the base URL. The server is a forked process using the test database, so data
    made in the test (committed: ``transactional_db``) is visible to it.
    """
    from django.db import connection

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    with running_daphne(connection.settings_dict["NAME"]) as url:
        yield url


@pytest.fixture
def second_daphne_server(daphne_server):
    """Another Daphne process on the same database: a second worker of one deployment."""
    from django.db import connection

    with running_daphne(connection.settings_dict["NAME"]) as url:
        yield url


# ---------------------------------------------------------------------------
# A real browser: Playwright driving Debian's chromium (installed by .ci/ensure-chromium).
# Sync Playwright runs an event loop in this thread, so make database rows before the
# browser starts (request ``browser`` last) and none while it runs.
# ---------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser():
    """A headless Chromium; skips only when the chromium package cannot be had here."""
    import os

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing and .ci/ensure-chromium could not install it (needs root and apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
