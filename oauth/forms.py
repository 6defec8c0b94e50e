from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

from coderproject.env import parse_duration
from oauth.services import format_lifetime


class LoginForm(AuthenticationForm):
    """Django's login form, telling a suspended user why they cannot sign in."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "suspended": "This account is suspended. Ask an administrator to reactivate it.",
    }

    def clean(self) -> dict:
        try:
            return super().clean()
        except forms.ValidationError:
            username = self.cleaned_data.get("username")
            password = self.cleaned_data.get("password")
            user = get_user_model().objects.filter(username=username).first()
            if user is not None and not user.is_active and password and user.check_password(password):
                raise forms.ValidationError(self.error_messages["suspended"], code="suspended") from None
            raise


LIFETIME_CHOICES = (("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("365d", "1 year"))


class TokenCreateForm(forms.Form):
    """Settings > Tokens: a name and one of the lifetimes this deployment allows."""

    token_name = forms.CharField(
        label="Token name",
        required=False,
        max_length=64,
        help_text="For example the machine or assistant that will use it. Left empty, one is made up.",
    )
    lifetime = forms.ChoiceField(label="Expires after")

    def __init__(self, *args, max_lifetime: timedelta, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(value, label) for value, label in LIFETIME_CHOICES if parse_lifetime(value) <= max_lifetime]
        if not choices:
            choices = [(format_lifetime(max_lifetime), format_lifetime(max_lifetime))]
        self.fields["lifetime"].choices = choices
        allowed = [value for value, _ in choices]
        self.fields["lifetime"].initial = "30d" if "30d" in allowed else allowed[-1]

    def chosen_lifetime(self) -> timedelta:
        return parse_lifetime(self.cleaned_data["lifetime"])


def parse_lifetime(value: str) -> timedelta:
    return timedelta(seconds=parse_duration(value))
