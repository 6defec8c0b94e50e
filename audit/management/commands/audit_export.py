import json
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.selectors import audit_event_list
from coderproject.env import parse_duration


def _since(value: str) -> datetime:
    """``2026-11-25``, ``2026-11-25T10:00:00Z`` or a duration back from now (``24h``, ``7d``)."""
    moment = parse_datetime(value) or parse_datetime(value + "T00:00:00")
    if moment is not None:
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    try:
        return timezone.now() - timedelta(seconds=parse_duration(value))
    except ValueError:
        raise CommandError(f"--since {value!r}: give a date, a date-time or a duration like 24h.") from None


class Command(BaseCommand):
    help = "Write audit events as JSON lines (oldest first)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="A date, date-time (ISO 8601) or duration back (24h, 7d).")
        parser.add_argument("--action", default="", help="Only this action, e.g. mcp.tool_call.")

    def handle(self, *args, since: str, action: str, **options) -> None:
        for event in audit_event_list(since=_since(since), action=action or None):
            self.stdout.write(json.dumps(event, separators=(",", ":")))
