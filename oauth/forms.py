from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm


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
