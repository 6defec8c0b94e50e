"""``manage.py server``: migrate, make sure there is an owner, then serve with Daphne."""

import argparse
import logging
import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coderproject import serving
from coderproject.addresses import local_url, parse_address
from coderproject.env import env_int
from coderproject.experiments import parse as parse_experiments
from oauth.services import user_create_first_owner

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Apply migrations, create the first owner if needed, and serve HTTP and WebSocket traffic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help="HOST:PORT (default CODER_ADDRESS or 127.0.0.1:3000)")
        parser.add_argument(
            "--experiments", help="Comma list of experiments ('*' for all); wins over CODER_EXPERIMENTS."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=env_int("CODER_WORKERS", 1, minimum=1),
            help="Worker processes sharing the port (default CODER_WORKERS or 1).",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=env_int("CODER_SHUTDOWN_GRACE", 30, minimum=0),
            help="Seconds in-flight requests and streams get to finish after SIGTERM.",
        )
        parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)

    def handle(
        self, *args, bind: str, experiments: str | None, workers: int, grace: float, worker_fd: int | None, **options
    ) -> None:
        if experiments is not None:
            self.apply_experiments(experiments)
        if worker_fd is not None:
            # A worker of a supervised group: the supervisor already prepared the deployment.
            self.start_provisioners()
            serving.run_daphne(fd=worker_fd, grace=grace, ready=lambda: logger.info("worker %d ready", os.getpid()))
            return
        try:
            host, port = parse_address(bind) if bind else settings.CODER_ADDRESS
        except ValueError as exc:
            raise CommandError(f"--bind {exc}") from None
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_first_user()
        self.prepare_workspaces()
        self.set_agent_url(host, port, workers)
        self.stdout.write(f"Experiments enabled: {', '.join(sorted(settings.CODER_EXPERIMENTS)) or 'none'}")
        listening = f"Listening on http://{host}:{port}/ — open {settings.CODER_ACCESS_URL}/"
        if not settings.CODER_ACCESS_URL_SET and local_url(host, port) != settings.CODER_ACCESS_URL:
            self.stdout.write(
                self.style.WARNING(
                    f"CODER_ACCESS_URL is not set: links, OAuth metadata and the MCP URL say "
                    f"{settings.CODER_ACCESS_URL}. Set CODER_ADDRESS={bind} instead of --bind, or CODER_ACCESS_URL."
                )
            )
        if workers == 1:
            self.start_provisioners()
            serving.run_daphne(host=host, port=port, grace=grace, ready=lambda: self.announce(listening))
            return
        self.announce(f"{listening} ({workers} workers)")
        try:
            serving.supervise(
                host=host,
                port=port,
                workers=workers,
                grace=grace,
                worker_args=["--grace", str(grace)],
                data_dir=settings.DATA_DIR,
            )
        except (ValueError, OSError) as exc:
            raise CommandError(f"cannot serve on {host}:{port}: {exc}") from None

    def announce(self, line: str) -> None:
        self.stdout.write(self.style.SUCCESS(line))
        self.stdout.flush()

    def apply_experiments(self, value: str) -> None:
        settings.CODER_EXPERIMENTS = parse_experiments(value)
        os.environ["CODER_EXPERIMENTS"] = value  # worker processes inherit the flag

    def set_agent_url(self, host: str, port: int, workers: int) -> None:
        """The URL this server's local-runtime agents dial: CODER_AGENT_URL, else the bind address.

        Set in the environment too, so the workers inherit it. Several workers without Redis
        share no channel layer: a call on one could not reach an agent on another, so then the
        local runtime keeps running commands in the worker's own process.
        """
        if settings.CODER_AGENT_URL:
            url = settings.CODER_AGENT_URL
        elif workers > 1 and not settings.REDIS_URL:
            self.stdout.write("Agents: several workers without REDIS_URL; workspaces run in the server processes.")
            return
        else:
            url = local_url(host, port)
            settings.CODER_AGENT_URL = os.environ["CODER_AGENT_URL"] = url
            settings.ALLOWED_HOSTS = sorted({*settings.ALLOWED_HOSTS, url.removeprefix("http://").rsplit(":", 1)[0]})
        self.stdout.write(f"Agents dial {url}")

    def ensure_first_user(self) -> None:
        user, password = user_create_first_owner(
            username=settings.CODER_FIRST_USER, password=settings.CODER_FIRST_USER_PASSWORD
        )
        if user is None:
            return
        self.stdout.write(self.style.SUCCESS(f"Created the first owner {user.username!r}."))
        if not settings.CODER_FIRST_USER_PASSWORD:
            self.stdout.write(f"Its password (shown once, change it after signing in): {password}")

    def prepare_workspaces(self) -> None:
        """The starter template on a deployment's first start."""
        from workspaces.services import template_ensure_starter

        if template_ensure_starter() is not None:
            self.stdout.write(self.style.SUCCESS("Created the starter template (a plain shell workspace)."))

    def start_provisioners(self) -> None:
        """Embedded provisioner workers in this serving process."""
        from workspaces.provisioner import start_embedded_provisioners

        workers = start_embedded_provisioners()
        logger.info("provisioner workers: %d embedded in process %d", len(workers), os.getpid())
