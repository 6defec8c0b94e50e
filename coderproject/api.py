"""Coder-shaped JSON errors for every REST endpoint.

Coder answers errors as ``{"message": ..., "detail": ..., "validations": [{field, detail}]}``;
DRF's exception handler is adapted here once so views never build error bodies by hand.
"""

from typing import Any

from django.http import JsonResponse
from rest_framework import exceptions, parsers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from oauth.authentication import drf_auth_error, unauthorized_response
from workspaces.errors import DomainError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python's recursion limit is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


def error_body(message: str, detail: str = "", validations: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if detail:
        body["detail"] = detail
    if validations:
        body["validations"] = validations
    return body


def json_error(status: int, message: str, detail: str = "") -> JsonResponse:
    """A Coder-shaped error from a plain Django view."""
    return JsonResponse(error_body(message, detail), status=status)


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        rows = []
        for key, value in detail.items():
            field = f"{prefix}.{key}" if prefix else str(key)
            rows.extend(_flatten(value, field))
        return rows
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix, "detail": " ".join(str(item) for item in detail)}]
        rows = []
        for index, item in enumerate(detail):
            rows.extend(_flatten(item, f"{prefix}[{index}]"))
        return rows
    return [{"field": prefix, "detail": str(detail)}]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):  # the service layer's errors: 404/400/409/403 with the field at fault
        return Response(error_body(exc.message, exc.detail, exc.validations()), status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    auth_error = drf_auth_error(exc)
    if auth_error is not None:  # one body and challenge for every refused credential
        response.status_code, response.data, headers = unauthorized_response(auth_error)
        for name, value in headers.items():
            response[name] = value
        return response
    if isinstance(exc, exceptions.ValidationError):
        rows = _flatten(exc.detail)
        general = [row["detail"] for row in rows if row["field"] in ("", "non_field_errors")]
        fields = [row for row in rows if row["field"] not in ("", "non_field_errors")]
        message = general[0] if general else "Validation failed."
        response.data = error_body(message, "; ".join(f"{r['field']}: {r['detail']}" for r in fields), fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(str(detail))
    return response
