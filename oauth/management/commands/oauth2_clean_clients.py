from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from coderproject.env import parse_duration
from oauth.oauth2.services import stale_dynamic_clients_delete


class Command(BaseCommand):
    help = "Delete self-registered OAuth clients that never got a token or have been idle too long."

    def add_arguments(self, parser):
        parser.add_argument(
            "--idle",
            default=None,
            help="how long without a live token makes a client stale (default CODER_OAUTH2_STALE_CLIENT_AGE)",
        )

    def handle(self, *args, idle, **options):
        try:
            seconds = parse_duration(idle) if idle else settings.CODER_OAUTH2_STALE_CLIENT_AGE
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        deleted = stale_dynamic_clients_delete(idle_for=timedelta(seconds=seconds))
        self.stdout.write(f"Deleted {deleted} stale dynamic client(s).")
