"""Browser pages: sign-in (rate limited) and Settings > Tokens."""

import math

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from oauth import selectors, services
from oauth.forms import LoginForm, TokenCreateForm
from oauth.models import APIKey


class LoginView(auth_views.LoginView):
    """Django's sign-in, refusing further attempts after repeated failures for one
    username from one address (counted in the shared cache)."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def _attempt(self) -> dict[str, str]:
        return {"ip": self.request.META.get("REMOTE_ADDR", ""), "username": self.request.POST.get("username", "")}

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = selectors.login_throttled_for(**self._attempt())
        if wait:
            minutes = max(1, math.ceil(wait / 60))
            context = self.get_context_data(form=self.form_class(request), throttled_minutes=minutes)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        services.login_failure_record(**self._attempt())
        return super().form_invalid(form)

    def form_valid(self, form: LoginForm) -> HttpResponse:
        services.login_failures_clear(**self._attempt())
        return super().form_valid(form)


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """List, create: a new token's secret appears in this one response and nowhere else."""
    form = TokenCreateForm(request.POST or None, max_lifetime=services.max_token_lifetime())
    created: tuple[APIKey, str] | None = None
    wait = None
    if request.method == "POST" and form.is_valid():
        wait = services.api_key_create_throttle(user=request.user, ip=request.META.get("REMOTE_ADDR", ""))
    if wait:
        form.add_error(None, f"Too many tokens created; try again in {math.ceil(wait / 60)} minute(s).")
    elif request.method == "POST" and form.is_valid():
        try:
            created = services.api_key_create(
                actor=request.user,
                user=request.user,
                name=form.cleaned_data["token_name"],
                lifetime=form.chosen_lifetime(),
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                form.add_error(field, errors)
        else:
            form = TokenCreateForm(max_lifetime=services.max_token_lifetime())
    context = {
        "form": form,
        "keys": selectors.api_key_list(actor=request.user, user=request.user),
        "new_key": created[0] if created else None,
        "new_token": created[1] if created else None,
    }
    response = render(request, "oauth/tokens.html", context, status=429 if wait else 200)
    response["Cache-Control"] = "no-store"
    if wait:
        response["Retry-After"] = str(wait)
    return response


@login_required
def token_delete(request: HttpRequest, key_id: str) -> HttpResponse:
    """Asks first (GET), deletes on POST."""
    try:
        key = selectors.api_key_get(actor=request.user, user=request.user, key_id=key_id)
    except APIKey.DoesNotExist:
        raise Http404("No such token.") from None
    if request.method == "POST":
        services.api_key_delete(actor=request.user, key=key)
        messages.success(request, f"Deleted the token “{key.name}”. Anything using it is now refused.")
        return redirect("tokens")
    return render(request, "oauth/token_confirm_delete.html", {"key": key})
