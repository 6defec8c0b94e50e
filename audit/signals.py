"""Sign-ins, successful and failed, from Django's own signals: every login path (the
sign-in page, the admin) sends them, so no view has to remember to."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_record


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="audit-login")
def record_login(sender, request, user, **kwargs) -> None:
    audit_record(action=AuditEvent.Action.LOGIN, user=user, ip=_ip(request))


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def record_login_failure(sender, credentials, request=None, **kwargs) -> None:
    audit_record(
        action=AuditEvent.Action.LOGIN,
        outcome=AuditEvent.Outcome.FAILURE,
        username=str(credentials.get("username", "")),
        ip=_ip(request),
    )
