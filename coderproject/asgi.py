"""The ASGI entry point: Channels routes HTTP and WebSocket traffic.

Django's own handler must be built before anything imports models.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coderproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

http_routes = [re_path(r"", django_asgi_app)]
websocket_routes: list = []

application = ProtocolTypeRouter(
    {
        "http": URLRouter(http_routes),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_routes)),
    }
)
