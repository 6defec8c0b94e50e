from django.apps import AppConfig


class CoderProjectConfig(AppConfig):
    name = "coderproject"
    verbose_name = "Deployment"

    def ready(self) -> None:
        from coderproject import checks  # noqa: F401  (registers the system checks)
