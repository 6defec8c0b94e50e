"""``manage.py server``: migrate, make sure there is an owner, then serve with Daphne."""

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coderproject.experiments import parse as parse_experiments
from oauth.services import user_create_first_owner


def parse_bind(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:3000`` for IPv6) as a pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--bind {value!r}: expected HOST:PORT, e.g. 127.0.0.1:3000")
    return host.strip("[]"), int(port)


class Command(BaseCommand):
    help = "Apply migrations, create the first owner if needed, and serve HTTP and WebSocket traffic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("CODER_ADDRESS", "127.0.0.1:3000"), help="HOST:PORT")
        parser.add_argument(
            "--experiments", help="Comma list of experiments ('*' for all); wins over CODER_EXPERIMENTS."
        )

    def handle(self, *args, bind: str, experiments: str | None, **options) -> None:
        host, port = parse_bind(bind)
        if experiments is not None:
            self.apply_experiments(experiments)
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_first_user()
        self.start_workspaces()
        self.stdout.write(f"Experiments enabled: {', '.join(sorted(settings.CODER_EXPERIMENTS)) or 'none'}")
        self.serve(host, port)

    def apply_experiments(self, value: str) -> None:
        settings.CODER_EXPERIMENTS = parse_experiments(value)
        os.environ["CODER_EXPERIMENTS"] = value  # worker processes inherit the flag

    def ensure_first_user(self) -> None:
        user, password = user_create_first_owner(
            username=settings.CODER_FIRST_USER, password=settings.CODER_FIRST_USER_PASSWORD
        )
        if user is None:
            return
        self.stdout.write(self.style.SUCCESS(f"Created the first owner {user.username!r}."))
        if not settings.CODER_FIRST_USER_PASSWORD:
            self.stdout.write(f"Its password (shown once, change it after signing in): {password}")

    def start_workspaces(self) -> None:
        """Embedded provisioner workers, and the starter template on a deployment's first start."""
        from workspaces.provisioner import start_embedded_provisioners
        from workspaces.services import template_ensure_starter

        workers = start_embedded_provisioners()
        if template_ensure_starter() is not None:
            self.stdout.write(self.style.SUCCESS("Created the starter template (a plain shell workspace)."))
        self.stdout.write(f"Provisioner workers: {len(workers)} embedded")

    def serve(self, host: str, port: int) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from coderproject.asgi import application

        def ready() -> None:
            self.stdout.write(
                self.style.SUCCESS(f"Listening on http://{host}:{port}/ — open {settings.CODER_ACCESS_URL}/")
            )
            self.stdout.flush()

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
            verbosity=0,
        ).run()
