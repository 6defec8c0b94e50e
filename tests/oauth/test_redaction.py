"""Tokens carried in query strings never reach the logs."""

import logging

import httpx
import pytest

from oauth.redaction import RedactTokensFilter, redact_tokens
from tests.helpers import clean_env, free_port, start_server, wait_for_line

SECRET_LOOKING = "abcdefghij-" + "S3cr3tS3cr3tS3cr3tS3cr"


def test_redact_tokens_in_urls():
    line = f"GET /api/v2/users/me?x=1&coder_session_token={SECRET_LOOKING}&ACCESS_TOKEN={SECRET_LOOKING}#f 401"
    assert redact_tokens(line) == (
        "GET /api/v2/users/me?x=1&coder_session_token=[redacted]&ACCESS_TOKEN=[redacted]#f 401"
    )
    assert redact_tokens("nothing to hide") == "nothing to hide"


def test_filter_rewrites_the_formatted_message():
    record = logging.LogRecord(
        "daphne", logging.INFO, __file__, 1, "%s %s", ("GET", f"/?access_token={SECRET_LOOKING}"), None
    )
    assert RedactTokensFilter().filter(record) is True
    assert record.getMessage() == "GET /?access_token=[redacted]"


@pytest.mark.slow
def test_the_server_logs_no_query_string_token(tmp_path):
    """The real server at DEBUG level with its access log, refusing a token sent in the
    query string: the request and the refusal are logged, the token is not."""
    port = free_port()
    env = clean_env(
        CODER_DATA_DIR=str(tmp_path),
        CODER_ACCESS_URL=f"http://127.0.0.1:{port}",
        CODER_LOG_LEVEL="DEBUG",
        CODER_ACCESS_LOG="true",
        PYTHONUNBUFFERED="1",
    )
    process = start_server("--bind", f"127.0.0.1:{port}", env=env)
    try:
        output = wait_for_line(process, r"Listening on")
        base = f"http://127.0.0.1:{port}"
        for param in ("coder_session_token", "access_token"):
            response = httpx.get(f"{base}/api/v2/users/me", params={param: SECRET_LOOKING}, timeout=10)
            assert response.status_code == 401
        # one access-log line per request, each after its refusal was logged
        logged = wait_for_line(process, r"GET /api/v2/users/me 401") + wait_for_line(
            process, r"GET /api/v2/users/me 401"
        )
        process.terminate()
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    everything = output + logged + rest
    assert "Unauthorized: /api/v2/users/me" in everything
    assert "S3cr3t" not in everything
