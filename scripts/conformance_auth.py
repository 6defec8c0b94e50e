"""Run the official conformance suite's ``authorization`` command against our authorization server.

``make conformance-auth`` installs Node 22 and the suite under ``.tools/`` (nothing global),
then runs this: a ``manage.py server`` with the ``oauth2`` experiment on a free loopback
port (access URL = that address, throw-away data directory, a known first owner), a public
client registered through our own RFC 7591 endpoint, and
``conformance authorization --url <issuer> --client-id ... --resource <MCP URL>``. The suite
prints an authorization URL for a person to open; a headless Chromium (Playwright, Debian's
/usr/bin/chromium) plays that person: it signs in and presses Allow on the consent page.
The suite's exit status is ours; its results land in ``.tools/conformance-auth-results``.
"""

import asyncio
import os
import re
import secrets
import subprocess
import sys

import httpx
from conformance import ROOT, TOOLS_BIN, free_port, running_server
from playwright.async_api import async_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MCP_PATH = "/api/experimental/mcp/http"


async def approve(authorization_url: str, password: str) -> None:
    """Be the person the suite asks for: sign in, read the consent page, press Allow."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(authorization_url)
            if "/login" in page.url:
                await page.fill("#id_username", "admin")
                await page.fill("#id_password", password)
                await page.click("button[type=submit]")
                await page.wait_for_load_state()
            await page.click("button[name=allow]")
            await page.wait_for_load_state()
        finally:
            await browser.close()


def main() -> int:
    port, callback_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    issuer = f"http://127.0.0.1:{port}"
    with running_server(
        port,
        CODER_ACCESS_URL=issuer,
        CODER_EXPERIMENTS="oauth2,mcp-server-http",
        CODER_FIRST_USER="admin",
        CODER_FIRST_USER_PASSWORD=password,
    ):
        registration = httpx.post(
            f"{issuer}/oauth2/register",
            json={
                "client_name": "MCP conformance suite",
                "redirect_uris": [f"http://127.0.0.1:{callback_port}/callback"],
                "token_endpoint_auth_method": "none",
            },
        )
        registration.raise_for_status()
        client_id = registration.json()["client_id"]
        out_dir = ROOT / ".tools" / "conformance-auth-results"
        command = [
            str(TOOLS_BIN / "conformance"),
            "authorization",
            "--url",
            issuer,
            "--client-id",
            client_id,
            "--resource",
            issuer + MCP_PATH,
            "--port",
            str(callback_port),
            "-o",
            str(out_dir),
        ]
        suite_env = {**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"}
        suite = subprocess.Popen(command, env=suite_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in suite.stdout:
            print(line, end="", flush=True)
            if re.match(rf"{re.escape(issuer)}/oauth2/authorize\?", line.strip()):
                asyncio.run(approve(line.strip(), password))
        return suite.wait()


if __name__ == "__main__":
    sys.exit(main())
