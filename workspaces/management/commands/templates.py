"""``manage.py templates push NAME DIR`` and ``manage.py templates list``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import User
from workspaces.errors import DomainError
from workspaces.management.common import command_actor, write_table
from workspaces.selectors import template_active_user_count, template_list
from workspaces.services import archive_from_directory, template_push


class Command(BaseCommand):
    help = "Push a directory as a template version (creating the template) or list templates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Act as this user (default: the first owner).")
        actions = parser.add_subparsers(dest="action", required=True)
        push = actions.add_parser("push", help="Create the template or a new active version from DIR.")
        push.add_argument("name")
        push.add_argument("directory", type=Path)
        push.add_argument("--message", default="")
        actions.add_parser("list", help="List templates.")

    def handle(self, *args, action: str, user: str | None, **options) -> None:
        actor = command_actor(user)
        try:
            if action == "push":
                self.push(actor, options["name"], options["directory"], options["message"])
            else:
                self.list(actor)
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from None

    def push(self, actor: User, name: str, directory: Path, message: str) -> None:
        if not (directory / "template.toml").is_file():
            raise CommandError(f"{directory}: no template.toml in this directory.")
        template, version, changed = template_push(
            actor=actor, name=name, archive=archive_from_directory(directory), message=message
        )
        if changed:
            self.stdout.write(self.style.SUCCESS(f"Template {template.name}: version {version.name} is active."))
        else:
            self.stdout.write(f"Template {template.name} is up to date (version {version.name}).")

    def list(self, actor: User) -> None:
        rows = [("NAME", "DISPLAY NAME", "ACTIVE VERSION", "USERS")]
        for template in template_list(actor=actor):
            version = template.active_version.name if template.active_version else "-"
            rows.append((template.name, template.display_name, version, str(template_active_user_count(template))))
        write_table(self.stdout, rows)
