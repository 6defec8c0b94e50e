"""REST endpoints about the caller and their session tokens (Coder's ``/api/v2/users/...``)."""

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from oauth.serializers import user_json


@api_view(["GET"])
def user_me(request: Request) -> Response:
    """``GET /api/v2/users/me``: who the credential belongs to."""
    return Response(user_json(request.user))
