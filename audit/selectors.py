"""Reading the audit log (for the export; the admin reads the model directly)."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from audit.models import AuditEvent


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.created_at.isoformat(),
        "action": event.action,
        "outcome": event.outcome,
        "user_id": str(event.user_id) if event.user_id else None,
        "username": event.username,
        "ip": event.ip,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "duration_ms": event.duration_ms,
        "detail": event.detail,
    }


def audit_event_list(*, since: datetime, action: str | None = None) -> Iterator[dict[str, Any]]:
    """Events at or after ``since``, oldest first, streamed (an export can be large)."""
    events = AuditEvent.objects.filter(created_at__gte=since).order_by("created_at", "id")
    if action:
        events = events.filter(action=action)
    for event in events.iterator(chunk_size=2000):
        yield audit_event_json(event)
