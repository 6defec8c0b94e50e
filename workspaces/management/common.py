"""What the workspaces commands share: who they act as and how they print a table."""

from django.core.management.base import CommandError, OutputWrapper

from oauth.models import User
from workspaces.permissions import first_site_owner


def command_actor(username: str | None) -> User:
    """The user a command acts as: the named one, or the deployment's first owner."""
    user = User.objects.filter(is_active=True, username=username).first() if username else first_site_owner()
    if user is None:
        raise CommandError(f"No active user {username!r}." if username else "No owner yet: run `manage.py server`.")
    return user


def write_table(stdout: OutputWrapper, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
