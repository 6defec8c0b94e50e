from django.conf import settings
from django.http import HttpRequest

from coderproject import __version__, experiments


def deployment(request: HttpRequest) -> dict:
    """What every page shows about this deployment."""
    return {
        "access_url": settings.CODER_ACCESS_URL,
        "version": __version__,
        "oauth2_enabled": experiments.is_enabled(experiments.OAUTH2),
    }
