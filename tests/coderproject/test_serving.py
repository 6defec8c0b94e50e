"""``server --workers N``: a supervised group of Daphne processes on one port."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, clean_env, free_port, kill_agents, read_output, start_server, wait_for_line

pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def wait_until(predicate, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def serving_pids(base: str, attempts: int = 40) -> set[int]:
    """The worker pids that answered ``attempts`` fresh connections."""
    pids = set()
    for _ in range(attempts):
        with httpx.Client(base_url=base) as client:
            pids.add(client.get("/healthz").json()["pid"])
    return pids


def test_workers_share_the_port_restart_when_killed_and_stop_cleanly(tmp_path):
    port = free_port()
    env = clean_env(CODER_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    process = start_server("--bind", f"127.0.0.1:{port}", "--workers", "2", "--grace", "5", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_line(process, r"\(2 workers\)")
        workers = wait_until(lambda: len(children_of(process.pid)) == 2 and children_of(process.pid))
        wait_for_line(process, r"worker \d+ ready")
        wait_for_line(process, r"worker \d+ ready")
        assert serving_pids(base) <= workers
        # Metrics of both workers are merged, whichever worker answers the scrape.
        scraped = httpx.get(f"{base}/metrics").text
        line = next(ln for ln in scraped.splitlines() if ln.startswith("coder_http_requests_total{") and "pages" in ln)
        assert float(line.rsplit(" ", 1)[1]) == 40  # every request of serving_pids, whichever worker took it

        victim = min(workers)
        subprocess.run(["kill", "-9", str(victim)], check=True)
        replaced = wait_until(lambda: len(children_of(process.pid) - {victim}) == 2 and children_of(process.pid))
        assert victim not in replaced
        (newcomer,) = replaced - workers
        restart_log = wait_for_line(process, rf"worker {newcomer} ready")
        assert "exited with -9; restarting" in restart_log
        assert serving_pids(base) <= replaced
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        output = read_output(process)
        assert output.count("SIGTERM received, draining") == 2
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_lets_an_in_flight_tool_call_finish(tmp_path):
    """A command running when SIGTERM arrives still returns its result; new connections are refused."""
    from tests.mcp_server.test_transport import MCP_HEADERS, final_message, open_session

    port = free_port()
    env = clean_env(CODER_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1", CODER_ACCESS_URL=f"http://127.0.0.1:{port}")
    process = start_server("--bind", f"127.0.0.1:{port}", "--experiments", "*", "--grace", "20", env=env)
    try:
        wait_for_line(process, r"Listening on")
        token = subprocess.run(
            [sys.executable, "manage.py", "createtoken", "admin"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout.strip()
        url = f"http://127.0.0.1:{port}/api/experimental/mcp/http"
        auth = {"Coder-Session-Token": token}
        session_id = open_session(url, **auth)
        headers = {**MCP_HEADERS, **auth, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}

        def call(request_id: int, name: str, arguments: dict) -> dict:
            body = {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
            with httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response:
                return final_message(response)["result"]["structuredContent"]

        version = call(1, "coder_list_templates", {})["templates"][0]["active_version_id"]
        call(
            2,
            "coder_create_workspace",
            {"user": "me", "template_version_id": version, "name": "w", "rich_parameters": {}},
        )
        assert call(3, "coder_workspace_bash", {"workspace": "w", "command": "echo ready"})["output"].strip() == "ready"

        slow = {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {
                "name": "coder_workspace_bash",
                "arguments": {"workspace": "w", "command": "sleep 2; echo finished"},
            },
        }
        with httpx.stream("POST", url, json=slow, headers=headers, timeout=60) as response:
            assert response.status_code == 200  # the call is in flight
            process.send_signal(signal.SIGTERM)
            wait_for_line(process, r"SIGTERM received, draining")
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            result = final_message(response)["result"]["structuredContent"]
        assert result["output"].strip() == "finished" and result["exit_code"] == 0
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_agents(str(tmp_path))
