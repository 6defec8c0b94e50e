"""``manage.py createtoken USERNAME``: a session token for scripts, e.g. ``TOKEN=$(... createtoken alice)``."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coderproject.env import parse_duration
from oauth.models import User
from oauth.services import api_key_create


class Command(BaseCommand):
    help = "Create a session token for a user and print only the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="Token name, unique per user (default: generated).")
        parser.add_argument("--lifetime", help="e.g. 30d, 12h (default 30d, capped by CODER_MAX_TOKEN_LIFETIME).")

    def handle(self, *args, username: str, name: str, lifetime: str | None, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            duration = timedelta(seconds=parse_duration(lifetime)) if lifetime is not None else None
            _, raw = api_key_create(actor=user, user=user, name=name, lifetime=duration)
        except ValueError as exc:
            raise CommandError(f"--lifetime: {exc}") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(raw)
