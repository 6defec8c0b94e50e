"""django-oauth-toolkit's views with our limits: consent always shown, registration
bounded and rate limited, client metadata held to ``policy``.

The protocol work stays in DOT; these subclasses only add what it lacks.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from oauth2_provider import views as dot_views
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from audit.models import AuditEvent
from audit.services import audit_record
from coderproject.env import Rate
from coderproject.ratelimit import rate_limit_hits
from oauth.oauth2 import policy, selectors, services

REGISTRATION_WINDOW_SECONDS = 3600


def _registration_error(description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": "invalid_client_metadata", "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _too_many(wait: int, description: str) -> JsonResponse:
    response = JsonResponse({"error": "too_many_requests", "error_description": description}, status=429)
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


def _registration_throttle(request: HttpRequest) -> int | None:
    """Registrations per client IP, counted in the shared cache; seconds to wait, or None.

    Generous on purpose: hosted clients (Claude, ChatGPT) register every user's
    connection from a handful of addresses.
    """
    rate = Rate(limit=settings.CODER_OAUTH2_REGISTRATIONS_PER_HOUR, window=REGISTRATION_WINDOW_SECONDS)
    return rate_limit_hits(scope="oauth2-register", limits={f"ip:{_client_ip(request)}": rate})


def _checked_metadata(request: HttpRequest) -> dict | JsonResponse:
    """The request's client metadata held to our rules, or the error response to send."""
    if len(request.body) > settings.CODER_OAUTH2_REGISTRATION_MAX_BYTES:
        return _registration_error(
            f"The registration request is larger than {settings.CODER_OAUTH2_REGISTRATION_MAX_BYTES} bytes."
        )
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        return _registration_error("Request body must be valid JSON")
    if not isinstance(data, dict):
        return _registration_error("Request body must be a JSON object")
    try:
        return policy.check_client_metadata(data)
    except policy.PolicyError as exc:
        return _registration_error(str(exc))


def _completed_registration(response: HttpResponse, metadata: dict) -> HttpResponse:
    """Add what RFC 7591 §3.2.1 asks of a registration response and DOT leaves out."""
    if response.status_code not in (200, 201):
        return response
    body = json.loads(response.content)
    application = get_application_model().objects.get(client_id=body["client_id"])
    body["client_id_issued_at"] = int(application.created.timestamp())
    if application.client_type == application.CLIENT_CONFIDENTIAL:
        body["client_secret_expires_at"] = 0
    body["response_types"] = ["code"]
    body["scope"] = metadata.get("scope") or " ".join(oauth2_settings.DEFAULT_SCOPES)
    if metadata.get("token_endpoint_auth_method") in policy.AUTH_METHODS and "client_secret" in body:
        body["token_endpoint_auth_method"] = metadata["token_endpoint_auth_method"]
    completed = JsonResponse(body, status=response.status_code)
    completed["Cache-Control"] = "no-store"
    return completed


class RegistrationView(dot_views.DynamicClientRegistrationView):
    """RFC 7591 registration, open to anonymous clients within our limits."""

    def post(self, request, *args, **kwargs):
        wait = _registration_throttle(request)
        if wait:
            return _too_many(wait, "Too many registrations; try again later.")
        metadata = _checked_metadata(request)
        if isinstance(metadata, JsonResponse):
            return metadata
        # DOT reads the metadata from the body: hand it the cleaned version.
        request._body = json.dumps(metadata).encode()
        return _completed_registration(super().post(request, *args, **kwargs), metadata)


class TokenView(dot_views.TokenView):
    """DOT's token endpoint, rate limited per client IP (it checks client secrets and codes)."""

    def post(self, request, *args, **kwargs):
        wait = rate_limit_hits(
            scope="oauth2-token", limits={f"ip:{_client_ip(request)}": settings.CODER_RATELIMIT_OAUTH2_TOKEN_PER_IP}
        )
        if wait:
            return _too_many(wait, "Too many token requests; try again later.")
        return super().post(request, *args, **kwargs)


class RegistrationManagementView(dot_views.DynamicClientRegistrationManagementView):
    """RFC 7592 read/update/delete with the registration access token."""

    def put(self, request, client_id, *args, **kwargs):
        metadata = _checked_metadata(request)
        if isinstance(metadata, JsonResponse):
            return metadata
        request._body = json.dumps(metadata).encode()
        return _completed_registration(super().put(request, client_id, *args, **kwargs), metadata)

    def get(self, request, client_id, *args, **kwargs):
        response = super().get(request, client_id, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class AuthorizationView(dot_views.AuthorizationView):
    """The consent page. Shown on every authorization: ``approval_prompt`` is ignored, so a
    client can never skip it; only an operator can mark a manual client as trusted."""

    template_name = "oauth2/authorize.html"

    def get(self, request, *args, **kwargs):
        if "approval_prompt" in request.GET:
            query = request.GET.copy()
            del query["approval_prompt"]
            request.GET = query
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if application is not None:
            where, loopback = policy.redirect_description(context.get("redirect_uri") or "")
            context.update(
                registered_itself=application.registration_source != application.RegistrationSource.MANUAL,
                redirect_where=where,
                redirect_loopback=loopback,
                client_display_name=application.name or "An unnamed application",
            )
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(
            action=AuditEvent.Action.OAUTH_CONSENT,
            outcome=AuditEvent.Outcome.SUCCESS if form.cleaned_data.get("allow") else AuditEvent.Outcome.FAILURE,
            user=self.request.user,
            ip=_client_ip(self.request),
            resource_type="oauth_application",
            resource_id=form.cleaned_data.get("client_id", ""),
            detail={"scope": form.cleaned_data.get("scope", ""), "resource": form.cleaned_data.get("resource", "")},
        )
        return response


@login_required
@require_http_methods(["GET", "POST"])
def authorized_applications(request: HttpRequest) -> HttpResponse:
    """Settings > Authorized apps: what can act as you, and a Revoke button for each."""
    if request.method == "POST":
        try:
            application_id = int(request.POST.get("application_id", ""))
            services.application_authorization_revoke(user=request.user, application_id=application_id)
        except (ValueError, get_application_model().DoesNotExist):
            raise Http404("No such authorized application.") from None
        messages.success(request, "Access revoked. The application must ask you again to connect.")
        return redirect("authorized-apps")
    return render(
        request,
        "oauth2/authorized_apps.html",
        {"applications": selectors.authorized_application_list(user=request.user)},
    )
