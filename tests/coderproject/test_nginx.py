"""Production shape: two server processes behind real nginx (deploy/nginx.conf), round-robin,
on PostgreSQL and Redis. Runs when DATABASE_URL and REDIS_URL are set (as .ci/run does)."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.helpers import ROOT, clean_env, free_port, start_server, wait_for_line
from tests.mcp_server.conftest import MCP_PATH, token_headers
from tests.mcp_server.test_transport import open_session, ping

pytestmark = [
    pytest.mark.slow,
    pytest.mark.production,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")), reason="needs DATABASE_URL and REDIS_URL"
    ),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (.ci/run installs Debian's package)"),
]


def nginx_config(tmp_path: Path, port: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf as shipped, pointed at this test's ports, inside a minimal main config."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:3001", f"server 127.0.0.1:{upstreams[0]}")
    site = site.replace("server 127.0.0.1:3002", f"server 127.0.0.1:{upstreams[1]}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path};\nproxy_temp_path {tmp_path};\n{site}\n}}\n"
    )
    return config


@pytest.fixture
def deployment(transactional_db, tmp_path):
    """nginx on a free port in front of two `manage.py server` processes on the test database."""
    front = free_port()
    ports = [free_port(), free_port()]
    database = connection.settings_dict
    database_url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=os.environ["REDIS_URL"],
        CODER_DATA_DIR=str(tmp_path / "data"),
        CODER_ACCESS_URL=f"http://127.0.0.1:{front}",
        PYTHONUNBUFFERED="1",
    )
    connection.close()
    workers: list[subprocess.Popen] = []
    nginx = None
    try:
        for port in ports:  # one after the other: the first start prepares the database
            workers.append(start_server("--bind", f"127.0.0.1:{port}", "--experiments", "*", env=env))
            wait_for_line(workers[-1], r"Listening on")
        nginx = subprocess.Popen(["nginx", "-c", str(nginx_config(tmp_path, front, ports)), "-g", "daemon off;"])
        yield f"http://127.0.0.1:{front}", workers, ports
    finally:
        for process in [nginx, *workers]:
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def test_a_session_works_across_workers_and_survives_a_killed_one(deployment, member):
    front, workers, ports = deployment
    headers = token_headers(member)
    mcp_url = front + MCP_PATH
    session_id = open_session(mcp_url, **headers)
    # Round-robin with no stickiness: each call may land on either worker.
    for _ in range(6):
        assert ping(mcp_url, session_id, **headers).status_code == 200
    for port in ports:  # and each worker serves the session directly
        assert ping(f"http://127.0.0.1:{port}{MCP_PATH}", session_id, **headers).status_code == 200
    served_by = {httpx.get(front + "/healthz").json()["pid"] for _ in range(6)}
    assert len(served_by) == 2, "nginx spreads requests over both workers"

    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(timeout=10)
    for _ in range(4):  # the next calls succeed: nginx retries on the survivor, which restores the session
        assert ping(mcp_url, session_id, **headers).status_code == 200
