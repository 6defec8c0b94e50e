"""Settings read from the environment, checked in a fresh interpreter each time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, clean_env

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]),
    "cache": settings.CACHES["default"]["BACKEND"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "debug": settings.DEBUG, "hosts": settings.ALLOWED_HOSTS,
    "csrf": settings.CSRF_TRUSTED_ORIGINS, "experiments": sorted(settings.CODER_EXPERIMENTS),
    "proxy": list(getattr(settings, "SECURE_PROXY_SSL_HEADER", None) or []),
    "data_dir": str(settings.DATA_DIR), "access_url": settings.CODER_ACCESS_URL,
}))
"""


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    env = clean_env(DJANGO_SETTINGS_MODULE="coderproject.settings", CODER_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def probe(tmp_path: Path, **env: str) -> dict:
    result = run_python(PROBE, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_needs_no_variables(tmp_path):
    found = probe(tmp_path)
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(tmp_path / "data" / "coder.sqlite3")
    assert found["cache"].endswith("LocMemCache")
    assert found["layer"] == "channels.layers.InMemoryChannelLayer"
    assert found["debug"] is True
    assert found["experiments"] == []
    assert "127.0.0.1" in found["hosts"]
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("address", "access_url"),
    [(None, "http://127.0.0.1:3000"), ("0.0.0.0:8080", "http://127.0.0.1:8080"), ("[::]:9000", "http://[::1]:9000")],
)
def test_access_url_defaults_to_where_the_server_listens(tmp_path, address, access_url):
    found = probe(tmp_path, **({"CODER_ADDRESS": address} if address else {}))
    assert found["access_url"] == access_url
    assert found["csrf"][0] == access_url


def test_generated_secret_key_survives_restarts(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_python(code, tmp_path).stdout
    second = run_python(code, tmp_path).stdout
    assert first.strip() and first == second


def test_production_urls_switch_database_cache_and_layer(tmp_path):
    found = probe(
        tmp_path,
        DATABASE_URL="postgres://coder:pw@db.internal:5432/coder",
        REDIS_URL="redis://cache.internal:6379/0",
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "coder"
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["layer"] == "channels_redis.core.RedisChannelLayer"


def test_access_url_feeds_hosts_and_csrf_origins(tmp_path):
    found = probe(
        tmp_path,
        CODER_ACCESS_URL="https://coder.example.com/",
        CODER_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CODER_EXPERIMENTS="OAuth2, mcp-server-http",
    )
    assert "coder.example.com" in found["hosts"]
    assert found["csrf"][0] == "https://coder.example.com"
    assert found["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["experiments"] == ["mcp-server-http", "oauth2"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nosuchdb://x/y"}, "DATABASE_URL is malformed"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"CODER_DEBUG": "maybe"}, "CODER_DEBUG='maybe' is not a boolean"),
        ({"CODER_ACCESS_URL": "coder.example.com"}, "CODER_ACCESS_URL"),
        ({"CODER_ADDRESS": "3000"}, "CODER_ADDRESS='3000': expected HOST:PORT"),
        ({"CODER_ADDRESS": "127.0.0.1:\u00b2"}, "expected HOST:PORT"),
        ({"CODER_MAX_TOKEN_LIFETIME": "\u00b2d"}, "is not a duration like 30d"),
        ({"CODER_MAX_TOKEN_LIFETIME": "forever"}, "CODER_MAX_TOKEN_LIFETIME"),
        ({"CODER_WORKSPACE_NETWORK": "none", "CODER_WORKSPACE_SANDBOX": "off"}, "CODER_WORKSPACE_NETWORK=none needs"),
    ],
)
def test_malformed_variable_gives_one_clear_line(tmp_path, env, message):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(CODER_DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr
