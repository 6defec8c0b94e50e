"""Writing the audit log.

``audit_record`` writes one row now: for rare events (sign-ins, tokens, consent, builds)
that happen inside a request or service anyway. ``audit_record_later`` is for the hot
path (every MCP tool call): it only appends to an in-process queue that a background
thread writes in batches every ``CODER_AUDIT_FLUSH_SECONDS``, so a tool call pays no
database write. Rows queued when a process is killed hard are lost; a graceful stop
flushes them.
"""

import atexit
import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from audit.models import AuditEvent
from oauth.models import User

logger = logging.getLogger("coder.audit")

BATCH_SIZE = 500
_pending: queue.SimpleQueue[AuditEvent] = queue.SimpleQueue()
_writer_lock = threading.Lock()
_writer: threading.Thread | None = None


def _event(
    *,
    action: str,
    outcome: str,
    user: User | None,
    username: str,
    ip: str | None,
    resource_type: str,
    resource_id: str,
    detail: dict[str, Any] | None,
    duration_ms: float | None,
    at: datetime | None,
) -> AuditEvent:
    if user is not None and not getattr(user, "pk", None):  # AnonymousUser
        user = None
    return AuditEvent(
        created_at=at or timezone.now(),
        action=action,
        outcome=outcome,
        user=user,
        username=(user.username if user is not None else username)[:150],
        ip=ip or None,
        resource_type=resource_type,
        resource_id=str(resource_id)[:255],
        detail=detail or {},
        duration_ms=duration_ms,
    )


def audit_record(
    *,
    action: str,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    user: User | None = None,
    username: str = "",
    ip: str | None = None,
    resource_type: str = "",
    resource_id: str = "",
    detail: dict[str, Any] | None = None,
    duration_ms: float | None = None,
) -> AuditEvent:
    """Write one audit row now (inside the caller's transaction, if any)."""
    event = _event(
        action=action,
        outcome=outcome,
        user=user,
        username=username,
        ip=ip,
        resource_type=resource_type,
        resource_id=resource_id,
        detail=detail,
        duration_ms=duration_ms,
        at=None,
    )
    event.save()
    return event


def audit_record_later(
    *,
    action: str,
    outcome: str,
    user: User | None,
    resource_type: str = "",
    resource_id: str = "",
    detail: dict[str, Any] | None = None,
    duration_ms: float | None = None,
) -> None:
    """Queue an audit row for the background writer (no database work on the caller's thread)."""
    _pending.put(
        _event(
            action=action,
            outcome=outcome,
            user=user,
            username="",
            ip=None,
            resource_type=resource_type,
            resource_id=resource_id,
            detail=detail,
            duration_ms=duration_ms,
            at=timezone.now(),
        )
    )
    _ensure_writer()


def audit_flush(*, batch: list[AuditEvent] | None = None) -> int:
    """Write every queued row now (after ``batch``, if given); returns how many written."""
    batch = batch or []
    written = 0
    while True:
        try:
            batch.append(_pending.get_nowait())
        except queue.Empty:
            break
        if len(batch) >= BATCH_SIZE:
            written += _write(batch)
            batch = []
    if batch:
        written += _write(batch)
    return written


def _write(batch: list[AuditEvent]) -> int:
    try:
        AuditEvent.objects.bulk_create(batch)
    except Exception:  # the log must never take the server down; say loudly that rows were lost
        logger.exception("could not write %d audit rows", len(batch))
        return 0
    return len(batch)


def _run_writer() -> None:
    while True:
        first = _pending.get()  # sleep until there is work
        time.sleep(settings.CODER_AUDIT_FLUSH_SECONDS)  # let a burst gather into one batch
        close_old_connections()
        audit_flush(batch=[first])
        close_old_connections()


def _ensure_writer() -> None:
    global _writer
    if _writer is not None and _writer.is_alive():
        return
    with _writer_lock:
        if _writer is None or not _writer.is_alive():
            _writer = threading.Thread(target=_run_writer, name="audit-writer", daemon=True)
            _writer.start()


atexit.register(audit_flush)
