from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    verbose_name = "Users and authentication"

    def ready(self) -> None:
        from oauth.revocation import connect_signals

        connect_signals()
