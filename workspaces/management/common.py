"""What the workspaces commands share: who they act as and how they print a table."""

from django.core.management.base import CommandError, OutputWrapper

from oauth.models import User


def command_actor(username: str | None) -> User:
    """The user a command acts as: the named one, or the first active superuser."""
    users = User.objects.filter(is_active=True)
    user = users.filter(username=username).first() if username else users.filter(is_superuser=True).first()
    if user is None:
        raise CommandError(f"No active user {username!r}." if username else "No owner yet: run `manage.py server`.")
    return user


def write_table(stdout: OutputWrapper, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
