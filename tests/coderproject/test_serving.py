"""``server --workers N``: a supervised group of Daphne processes on one port."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, clean_env, free_port, read_output, wait_for_line

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
    process = subprocess.Popen(
        [sys.executable, "manage.py", "server", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--grace", "5"],
        cwd=ROOT,
        env=clean_env(CODER_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
