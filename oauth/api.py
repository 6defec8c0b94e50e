"""REST endpoints about the caller and their session tokens (Coder's ``/api/v2/users/...``).

Thin adapters: validate the input, call ``oauth.selectors``/``oauth.services``, answer in
Coder's JSON shapes. The layer below raises Django's own exceptions (``ValidationError``,
``DoesNotExist``); ``domain_errors`` turns them into Coder-shaped REST errors.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from oauth import selectors, services
from oauth.serializers import api_key_json, user_json


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except ObjectDoesNotExist as exc:
        raise exceptions.NotFound(str(exc)) from None
    except ValidationError as exc:
        fields = getattr(exc, "error_dict", {})
        if any(error.code == "duplicate" for errors in fields.values() for error in errors):
            raise Conflict(" ".join(exc.messages)) from None
        raise exceptions.ValidationError(exc.message_dict if fields else exc.messages) from None


class TokenCreateInput(serializers.Serializer):
    """Coder's ``CreateTokenRequest``: ``lifetime`` is a Go duration, in nanoseconds."""

    token_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    lifetime = serializers.IntegerField(required=False, min_value=0, default=0)
    scope = serializers.ChoiceField(choices=["all", "application_connect"], required=False, default="all")


@api_view(["GET"])
def user_me(request: Request) -> Response:
    """``GET /api/v2/users/me``: who the credential belongs to."""
    return Response(user_json(request.user))


@api_view(["GET", "POST"])
def token_list_create(request: Request, user: str) -> Response:
    """List a user's tokens (``?include_all=true``: everyone's, for owners) or make one."""
    with domain_errors():
        owner = selectors.token_owner_get(actor=request.user, ref=user)
        if request.method == "GET":
            everyone = request.query_params.get("include_all", "").lower() == "true"
            keys = selectors.api_key_list(actor=request.user, user=None if everyone else owner)
            return Response([api_key_json(key) for key in keys])
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        wait = services.api_key_create_throttle(user=request.user, ip=request.META.get("REMOTE_ADDR", ""))
        if wait:
            raise exceptions.Throttled(wait)
        nanoseconds = data.validated_data["lifetime"]
        _, raw = services.api_key_create(
            actor=request.user,
            user=owner,
            name=data.validated_data["token_name"],
            lifetime=timedelta(microseconds=nanoseconds // 1000) if nanoseconds else None,
            scope=data.validated_data["scope"],
        )
    return Response({"key": raw}, status=status.HTTP_201_CREATED)


@api_view(["GET"])
def token_by_name(request: Request, user: str, name: str) -> Response:
    with domain_errors():
        owner = selectors.token_owner_get(actor=request.user, ref=user)
        key = selectors.api_key_get(actor=request.user, user=owner, name=name)
    return Response(api_key_json(key))


@api_view(["GET", "DELETE"])
def token_by_id(request: Request, user: str, key_id: str) -> Response:
    with domain_errors():
        owner = selectors.token_owner_get(actor=request.user, ref=user)
        key = selectors.api_key_get(actor=request.user, user=owner, key_id=key_id)
        if request.method == "GET":
            return Response(api_key_json(key))
        services.api_key_delete(actor=request.user, key=key)
    return Response(status=status.HTTP_204_NO_CONTENT)
