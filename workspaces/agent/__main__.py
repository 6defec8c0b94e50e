"""``python -m workspaces.agent --url URL --token TOKEN [--directory DIR]``."""

import argparse
import asyncio
import logging
import os
import sys

from workspaces.agent.client import main


def run() -> int:
    parser = argparse.ArgumentParser(prog="python -m workspaces.agent", description="The Coder workspace agent.")
    parser.add_argument("--url", default=os.environ.get("CODER_AGENT_URL"), help="the server's base URL")
    parser.add_argument("--token", default=os.environ.get("CODER_AGENT_TOKEN"), help="this build's agent token")
    parser.add_argument("--directory", help="the workspace directory here (default: the server's manifest)")
    args = parser.parse_args()
    if not args.url or not args.token:
        parser.error("--url and --token (or CODER_AGENT_URL and CODER_AGENT_TOKEN) are required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(levelname)s %(message)s", stream=sys.stderr)
    return asyncio.run(main(url=args.url, token=args.token, directory=args.directory))


sys.exit(run())
