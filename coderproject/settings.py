"""Settings for the control plane: one module, driven by environment variables.

The embedded default needs no variables at all: SQLite and a generated secret key under
``CODER_DATA_DIR``, an in-memory channel layer and cache. ``DATABASE_URL`` and
``REDIS_URL`` switch to the production parts. The README lists every variable.
"""

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from coderproject import experiments
from coderproject.addresses import local_url, parse_address
from coderproject.env import env_bool, env_choice, env_duration, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Data directory: the SQLite file, the generated secret key, workspaces.
# ---------------------------------------------------------------------------
DATA_DIR = Path(env_str("CODER_DATA_DIR", str(BASE_DIR / ".coder-data"))).expanduser().resolve()
try:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"CODER_DATA_DIR={DATA_DIR}: cannot create it ({exc.strerror})") from None


def _generated_secret_key(path: Path) -> str:
    """A random key kept in the data directory so sessions survive restarts."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


# ---------------------------------------------------------------------------
# Django
# ---------------------------------------------------------------------------
DEBUG = env_bool("CODER_DEBUG", True)
SECRET_KEY_GENERATED = not env_str("CODER_SECRET_KEY")
SECRET_KEY = env_str("CODER_SECRET_KEY") or _generated_secret_key(DATA_DIR / "secret_key")

try:
    CODER_ADDRESS = parse_address(env_str("CODER_ADDRESS", "127.0.0.1:3000"))
except ValueError as exc:
    raise ImproperlyConfigured(f"CODER_ADDRESS={exc}") from None
# Unset, the access URL is where the server listens: links, OAuth metadata and the MCP URL
# then work on this host whatever port CODER_ADDRESS names.
_access_url = env_str("CODER_ACCESS_URL")
CODER_ACCESS_URL_SET = bool(_access_url)
CODER_ACCESS_URL = (_access_url or local_url(*CODER_ADDRESS)).rstrip("/")
_access = urlsplit(CODER_ACCESS_URL)
if _access.scheme not in ("http", "https") or not _access.hostname:
    raise ImproperlyConfigured(f"CODER_ACCESS_URL={CODER_ACCESS_URL!r} must be an absolute http(s) URL")
CODER_ACCESS_ORIGIN = f"{_access.scheme}://{_access.netloc}"

ALLOWED_HOSTS = sorted({_access.hostname, "127.0.0.1", "localhost", "[::1]", *env_list("CODER_ALLOWED_HOSTS")})
CSRF_TRUSTED_ORIGINS = [CODER_ACCESS_ORIGIN, *env_list("CODER_CSRF_TRUSTED_ORIGINS")]

_proxy_header = env_list("CODER_SECURE_PROXY_SSL_HEADER")  # e.g. "HTTP_X_FORWARDED_PROTO,https"
if _proxy_header:
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured(
            "CODER_SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
USE_X_FORWARDED_HOST = env_bool("CODER_USE_X_FORWARDED_HOST", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _access.scheme == "https"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "oauth2_provider",
    "channels",
    "coderproject",
    "oauth",
    "workspaces",
    "mcp_server",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files under Daphne, no web server needed
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "coderproject.urls"
ASGI_APPLICATION = "coderproject.asgi.application"
AUTH_USER_MODEL = "oauth.User"
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coderproject.context_processors.deployment",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database: SQLite under the data directory, or DATABASE_URL (PostgreSQL).
# ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CODER_DB_CONN_MAX_AGE", 60))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if not _database.get("ENGINE") or not _database.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL is malformed: it names no database")
    _database["CONN_HEALTH_CHECKS"] = True
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "coder.sqlite3",
        # Reuse connections (opening one runs the PRAGMAs below): async code's worker threads
        # would otherwise reconnect on every ORM call.
        "CONN_MAX_AGE": env_int("CODER_DB_CONN_MAX_AGE", 60),
        # IMMEDIATE transactions and WAL let the server, its provisioner workers and
        # management commands share the file without "database is locked" surprises.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------
# Cache and channel layer: in memory, or REDIS_URL.
# ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Messages a channel holds before senders get ChannelFull (the layers' default is 100): a
# command's streamed output reaches its caller as one message per chunk.
CHANNEL_CAPACITY = 10_000
if REDIS_URL:
    if urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": CHANNEL_CAPACITY},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": CHANNEL_CAPACITY}}
    }

# ---------------------------------------------------------------------------
# Passwords, i18n, static files
# ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves the stylesheet, scripts and admin assets straight from the apps, so the
# embedded default needs no collectstatic step (run it for a faster start in production).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start when it is missing

# Plain lines for people in development, JSON lines (with the request id) in production.
CODER_LOG_FORMAT = env_str("CODER_LOG_FORMAT", "plain" if DEBUG else "json")
if CODER_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"CODER_LOG_FORMAT={CODER_LOG_FORMAT!r} must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(pid)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {
        "redact_tokens": {"()": "oauth.redaction.RedactTokensFilter"},
        "request_id": {"()": "coderproject.observability.RequestIdFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": CODER_LOG_FORMAT,
            "filters": ["request_id", "redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("CODER_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "coder.access": {"level": "INFO" if env_bool("CODER_ACCESS_LOG", not DEBUG) else "WARNING"},
    },
}

# ---------------------------------------------------------------------------
# Django REST framework
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth.authentication.TokenAuthentication",  # session tokens first, as Coder looks
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "coderproject.api.JSONParser",  # DRF's, answering hostile nesting with 400 too
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "coderproject.api.exception_handler",
}
SPECTACULAR_SETTINGS = {"TITLE": "Coder-compatible control plane API", "VERSION": "2"}

# ---------------------------------------------------------------------------
# Coder: experiments, first user, tokens
# ---------------------------------------------------------------------------
CODER_EXPERIMENTS = experiments.parse(env_str("CODER_EXPERIMENTS"))
CODER_FIRST_USER = env_str("CODER_FIRST_USER", "admin")
CODER_FIRST_USER_PASSWORD = env_str("CODER_FIRST_USER_PASSWORD")
CODER_METRICS_TOKEN = env_str("CODER_METRICS_TOKEN")
CODER_MAX_TOKEN_LIFETIME = env_duration("CODER_MAX_TOKEN_LIFETIME", "365d")
# Failed sign-ins per client address and username before the form refuses for a while
# (counted in the cache, so Redis shares the count between server processes).
CODER_LOGIN_MAX_FAILURES = env_int("CODER_LOGIN_MAX_FAILURES", 5, minimum=1)
CODER_LOGIN_LOCKOUT = env_duration("CODER_LOGIN_LOCKOUT", "15m")

# ---------------------------------------------------------------------------
# OAuth2: django-oauth-toolkit as the authorization server for MCP clients
# (routes gated by the ``oauth2`` experiment; our rules in oauth/oauth2/policy.py)
# ---------------------------------------------------------------------------
CODER_MCP_URL = f"{CODER_ACCESS_URL}/api/experimental/mcp/http"
CODER_OAUTH2_REGISTRATIONS_PER_HOUR = env_int("CODER_OAUTH2_REGISTRATIONS_PER_HOUR", 300, minimum=1)
CODER_OAUTH2_REGISTRATION_MAX_BYTES = env_int("CODER_OAUTH2_REGISTRATION_MAX_BYTES", 16384, minimum=1024)
CODER_OAUTH2_MAX_REDIRECT_URIS = env_int("CODER_OAUTH2_MAX_REDIRECT_URIS", 20, minimum=1)
CODER_OAUTH2_REDIRECT_URI_MAX_LENGTH = env_int("CODER_OAUTH2_REDIRECT_URI_MAX_LENGTH", 2048, minimum=64)
CODER_OAUTH2_NATIVE_REDIRECT_SCHEMES = [
    scheme.lower()
    for scheme in env_list(
        "CODER_OAUTH2_NATIVE_REDIRECT_SCHEMES", ["vscode", "vscode-insiders", "cursor", "windsurf", "zed"]
    )
]
CODER_OAUTH2_STALE_CLIENT_AGE = env_duration("CODER_OAUTH2_STALE_CLIENT_AGE", "30d")
OAUTH2_PROVIDER = {
    "OAUTH2_SERVER_CLASS": "oauth.oauth2.server.Server",
    "OAUTH2_VALIDATOR_CLASS": "oauth.oauth2.validators.OAuth2Validator",
    "APPLICATION_ADMIN_CLASS": "oauth.oauth2.admin.ApplicationAdmin",
    "SCOPES": {"mcp": "Use this deployment's MCP tools and API as you"},
    "DEFAULT_SCOPES": ["mcp"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_duration("CODER_OAUTH2_ACCESS_TOKEN_LIFETIME", "1h"),
    # Sliding: a refresh token dies this long after its last access token expired.
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_duration("CODER_OAUTH2_REFRESH_TOKEN_IDLE_LIFETIME", "30d"),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    # http is for loopback redirects only; policy.check_redirect_uri enforces that.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https", *CODER_OAUTH2_NATIVE_REDIRECT_SCHEMES],
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS": env_duration("CODER_OAUTH2_REGISTRATION_TOKEN_LIFETIME", "30d"),
    "CIMD_ENABLED": env_bool("CODER_OAUTH2_CIMD_ENABLED", True),
    "CIMD_METADATA_FETCHER": "oauth.oauth2.cimd.MetadataFetcher",
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_basic", "client_secret_post"],
    "OIDC_ISS_ENDPOINT": CODER_ACCESS_URL,
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": CODER_MCP_URL,
    "OAUTH2_PROTECTED_RESOURCE_NAME": "Coder MCP server",
}
# http redirect URIs are limited to loopback hosts by our own validation (RFC 8252).
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W008"]

# ---------------------------------------------------------------------------
# MCP server (/api/experimental/mcp/http)
# ---------------------------------------------------------------------------
# Browser origins allowed to call the MCP endpoint besides the access URL's own origin
# (e.g. the MCP Inspector at http://localhost:6274). A request with any other Origin is 403.
CODER_MCP_ALLOWED_ORIGINS = [CODER_ACCESS_ORIGIN, *env_list("CODER_MCP_ALLOWED_ORIGINS")]
# Idle stateful sessions are closed after this long (the client re-initializes).
CODER_MCP_SESSION_IDLE_TIMEOUT = env_duration("CODER_MCP_SESSION_IDLE_TIMEOUT", "30m")
# How often a busy session's ``last_seen_at`` is written (and an operator's "end" noticed).
CODER_MCP_SESSION_TOUCH_INTERVAL = env_duration("CODER_MCP_SESSION_TOUCH_INTERVAL", "15s")
# An accepted token is trusted this long without a database lookup (0 = look up every request);
# a revoked token or suspended user is refused at most this much later on the MCP endpoint.
CODER_MCP_AUTH_CACHE_SECONDS = env_int("CODER_MCP_AUTH_CACHE_SECONDS", 5, minimum=0)
# Threads running the MCP tools' database work (each holds one database connection).
CODER_MCP_ORM_THREADS = env_int("CODER_MCP_ORM_THREADS", 16, minimum=1)
# The conformance suite's fixture server, without credentials: development only (check coder.E003).
CODER_MCP_CONFORMANCE_FIXTURE = env_bool("CODER_MCP_CONFORMANCE_FIXTURE", False)

# ---------------------------------------------------------------------------
# Workspaces: local workspace directories and provisioner workers
# ---------------------------------------------------------------------------
CODER_WORKSPACES_DIR = Path(env_str("CODER_WORKSPACES_DIR", str(DATA_DIR / "workspaces"))).expanduser().resolve()
CODER_PROVISIONER_DAEMONS = env_int("CODER_PROVISIONER_DAEMONS", 3, minimum=0)
CODER_PROVISIONER_STALE_AFTER = env_duration("CODER_PROVISIONER_STALE_AFTER", "5m")
# Limits on every process a workspace runs (0 = none): processes per workspace (pids cgroup
# where the server may make one; per user otherwise, which does not bind root), address
# space per process, largest file a process writes.
CODER_WORKSPACE_MAX_PROCESSES = env_int("CODER_WORKSPACE_MAX_PROCESSES", 512, minimum=0)
CODER_WORKSPACE_MAX_MEMORY_MB = env_int("CODER_WORKSPACE_MAX_MEMORY_MB", 8192, minimum=0)
CODER_WORKSPACE_MAX_FILE_MB = env_int("CODER_WORKSPACE_MAX_FILE_MB", 0, minimum=0)
# Commands and scripts in a bubblewrap sandbox: "auto" when bwrap works here, "required"
# (workspaces do not start without it) or "off". Hidden in it besides the data directory,
# the workspaces directory and every *_FILE secret: CODER_WORKSPACE_SANDBOX_HIDE.
CODER_WORKSPACE_SANDBOX = env_choice("CODER_WORKSPACE_SANDBOX", "auto", ("auto", "required", "off"))
CODER_WORKSPACE_SANDBOX_HIDE = env_list(
    "CODER_WORKSPACE_SANDBOX_HIDE", ["/root", "/etc/coder", "/etc/shadow", "/etc/gshadow", "/run/docker.sock"]
)
# "none": each sandboxed command gets only a loopback of its own, so workspaces cannot reach
# the host's services (Redis, PostgreSQL, this server) or anything else; "host" shares it.
CODER_WORKSPACE_NETWORK = env_choice("CODER_WORKSPACE_NETWORK", "host", ("host", "none"))
if CODER_WORKSPACE_NETWORK == "none" and CODER_WORKSPACE_SANDBOX == "off":
    raise ImproperlyConfigured("CODER_WORKSPACE_NETWORK=none needs the sandbox: CODER_WORKSPACE_SANDBOX cannot be off")

# ---------------------------------------------------------------------------
# Workspace agents (issue 9): how often a connected agent reports; three missed beats = timeout
# ---------------------------------------------------------------------------
CODER_AGENT_HEARTBEAT_S = env_int("CODER_AGENT_HEARTBEAT_S", 15, minimum=1)
# The URL agents dial (the local runtime's child agents, and {url} in command runtimes).
# ``manage.py server`` sets it from --bind when unset; without it the local runtime runs
# commands in the server process (tests, management commands).
CODER_AGENT_URL = env_str("CODER_AGENT_URL").rstrip("/")
if CODER_AGENT_URL:
    _agent = urlsplit(CODER_AGENT_URL)
    if _agent.scheme not in ("http", "https") or not _agent.hostname:
        raise ImproperlyConfigured(f"CODER_AGENT_URL={CODER_AGENT_URL!r} must be an absolute http(s) URL")
    ALLOWED_HOSTS = sorted({*ALLOWED_HOSTS, f"[{_agent.hostname}]" if ":" in _agent.hostname else _agent.hostname})
# A start build fails when its agent has not dialed in within this long.
CODER_AGENT_CONNECT_TIMEOUT = env_duration("CODER_AGENT_CONNECT_TIMEOUT", "60s")

# ---------------------------------------------------------------------------
# Hardening: audit log
# ---------------------------------------------------------------------------
# MCP tool calls are audited through an in-process queue written in batches this often
# (milliseconds), so a tool call never waits for an audit insert.
CODER_AUDIT_FLUSH_SECONDS = env_int("CODER_AUDIT_FLUSH_MS", 500, minimum=1) / 1000

# ---------------------------------------------------------------------------
# Hardening: rate limits, "N/window" (e.g. 30/1h, 600/1m) or 0 for off. Counted in the
# cache, so Redis (REDIS_URL) shares them between server processes. Sign-in and
# registration keep their own settings above (CODER_LOGIN_*, CODER_OAUTH2_REGISTRATIONS_PER_HOUR).
# ---------------------------------------------------------------------------
CODER_RATELIMIT_TOKENS = env_rate("CODER_RATELIMIT_TOKENS", "30/1h")
CODER_RATELIMIT_TOKENS_PER_IP = env_rate("CODER_RATELIMIT_TOKENS_PER_IP", "60/1h")
CODER_RATELIMIT_OAUTH2_TOKEN_PER_IP = env_rate("CODER_RATELIMIT_OAUTH2_TOKEN_PER_IP", "300/1m")
CODER_RATELIMIT_TOOL_CALLS = env_rate("CODER_RATELIMIT_TOOL_CALLS", "1200/1m")
CODER_RATELIMIT_TOOL_CALLS_PER_IP = env_rate("CODER_RATELIMIT_TOOL_CALLS_PER_IP", "6000/1m")
