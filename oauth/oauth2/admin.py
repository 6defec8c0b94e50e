"""The operators' view of OAuth applications (``APPLICATION_ADMIN_CLASS``)."""

from django import forms
from oauth2_provider.admin import ApplicationAdmin as DOTApplicationAdmin
from oauth2_provider.forms import ApplicationForm as DOTApplicationForm

from oauth.oauth2 import policy


class ApplicationForm(DOTApplicationForm):
    def clean_redirect_uris(self) -> str:
        uris = self.cleaned_data.get("redirect_uris", "")
        try:
            for uri in uris.split():
                policy.check_redirect_uri(uri)
        except policy.PolicyError as exc:
            raise forms.ValidationError(str(exc)) from None
        return uris

    def clean(self) -> dict:
        cleaned = super().clean()
        source = self.instance.registration_source
        if cleaned.get("skip_authorization") and source != self.instance.RegistrationSource.MANUAL:
            self.add_error("skip_authorization", "A client that registered itself can never skip the consent page.")
        return cleaned


class ApplicationAdmin(DOTApplicationAdmin):
    form = ApplicationForm
    list_display = ("name", "client_id", "user", "client_type", "registration_source", "created")
    list_select_related = ("user",)
    search_fields = ("name", "client_id")
