"""REST endpoints for templates, files, workspaces, builds and agents (Coder's ``/api/v2``).

Thin adapters: a DRF serializer checks the shape of the input (field-level 400s), the
selectors and services do the rest (their ``DomainError``s become 404/400/409/403 in
``coderproject.api``), and ``workspaces.serializers`` answers in Coder's JSON shapes.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from workspaces import selectors, services
from workspaces.errors import InvalidInput
from workspaces.serializers import (
    agent_log_json,
    build_json,
    file_json,
    log_json,
    parameter_json,
    template_json,
    template_version_json,
    workspace_json,
)

MAX_PAGE = 100
MAX_OFFSET = 2**31 - 1  # databases refuse offsets past 64 bits; no list is this long


class TarParser(BaseParser):
    """``POST /files`` sends the archive as the raw body."""

    media_type = "application/x-tar"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


class GzipTarParser(TarParser):
    media_type = "application/x-gzip"


def _int_param(request: Request, name: str, default: int, *, maximum: int | None = None) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    if not raw.isdecimal() or (maximum is not None and int(raw) > maximum):
        limit = f" at most {maximum}" if maximum is not None else ""
        raise InvalidInput(f"Must be a whole number{limit}.", field=name)
    return int(raw)


def _valid(serializer_class: type[serializers.Serializer], data: object) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_workspace_query(query: str) -> dict[str, str]:
    """Coder's ``q``: ``owner:me name:dev`` (a bare word is a name filter)."""
    filters: dict[str, str] = {}
    for term in query.split():
        key, sep, value = term.partition(":")
        if not sep:
            key, value = "name", term
        if key not in ("owner", "name") or not value:
            raise InvalidInput(f"Unknown filter {term!r}; use owner:<user> or name:<text>.", field="q")
        filters[key] = value
    return filters


AFTER = OpenApiParameter("after", int, description="Only lines with a greater id.")


# ---------------------------------------------------------------------------
# Files and template versions
# ---------------------------------------------------------------------------


@extend_schema(request={"application/x-tar": bytes}, responses={201: OpenApiTypes.OBJECT})
@api_view(["POST"])
@parser_classes([TarParser, GzipTarParser])
def file_upload(request: Request) -> Response:
    data = request.data if isinstance(request.data, bytes) else b""
    upload = services.file_upload(actor=request.user, data=data, mimetype=request.content_type or "application/x-tar")
    return Response(file_json(upload), status=status.HTTP_201_CREATED)


class TemplateVersionCreateInput(serializers.Serializer):
    file_id = serializers.UUIDField()
    template_id = serializers.UUIDField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


@extend_schema(request=TemplateVersionCreateInput, responses={201: OpenApiTypes.OBJECT})
@api_view(["POST"])
@parser_classes([JSONParser])
def template_version_create(request: Request) -> Response:
    data = _valid(TemplateVersionCreateInput, request.data)
    version = services.template_version_create(actor=request.user, **data)
    return Response(template_version_json(version), status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def template_version_detail(request: Request, version_id: str) -> Response:
    return Response(template_version_json(selectors.template_version_get(actor=request.user, version_id=version_id)))


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def template_version_parameters(request: Request, version_id: str) -> Response:
    parameters = selectors.template_version_parameters(actor=request.user, version_id=version_id)
    return Response([parameter_json(parameter) for parameter in parameters])


@extend_schema(parameters=[AFTER], responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def template_version_logs(request: Request, version_id: str) -> Response:
    after = _int_param(request, "after", 0)
    logs = selectors.template_version_logs(actor=request.user, version_id=version_id, after_id=after)
    return Response([log_json(line) for line in logs])


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


class TemplateCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=32)
    display_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    icon = serializers.CharField(required=False, allow_blank=True, default="", max_length=256)
    template_version_id = serializers.UUIDField()


@extend_schema(methods=["GET"], operation_id="templates_list", responses=OpenApiTypes.OBJECT)
@extend_schema(methods=["POST"], request=TemplateCreateInput, responses={201: OpenApiTypes.OBJECT})
@api_view(["GET", "POST"])
def template_list_create(request: Request) -> Response:
    if request.method == "GET":
        return Response([template_json(template) for template in selectors.template_list(actor=request.user)])
    data = _valid(TemplateCreateInput, request.data)
    template = services.template_create(
        actor=request.user,
        name=data["name"],
        display_name=data["display_name"],
        description=data["description"],
        icon=data["icon"],
        version_id=data["template_version_id"],
    )
    return Response(template_json(template), status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET", "DELETE"])
def template_detail(request: Request, template_id: str) -> Response:
    if request.method == "DELETE":
        services.template_delete(actor=request.user, template_id=template_id)
        return Response({"message": "Template has been deleted."})
    return Response(template_json(selectors.template_get(actor=request.user, template_id=template_id)))


class ActiveVersionInput(serializers.Serializer):
    id = serializers.UUIDField()


@extend_schema(request=ActiveVersionInput, responses=OpenApiTypes.OBJECT)
@api_view(["GET", "PATCH"])
def template_versions(request: Request, template_id: str) -> Response:
    """List a template's versions, or (``PATCH {"id"}``) make one the active version."""
    if request.method == "PATCH":
        data = _valid(ActiveVersionInput, request.data)
        services.template_update_active_version(actor=request.user, template_id=template_id, version_id=data["id"])
        return Response({"message": "Updated the active version!"})
    versions = selectors.template_versions(actor=request.user, template_id=template_id)
    return Response([template_version_json(version) for version in versions])


# ---------------------------------------------------------------------------
# Workspaces and builds
# ---------------------------------------------------------------------------


class ParameterValue(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


def _parameters(values: list[dict] | None) -> dict[str, str] | None:
    return None if values is None else {item["name"]: item["value"] for item in values}


class WorkspaceCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    template_id = serializers.UUIDField(required=False, allow_null=True)
    template_version_id = serializers.UUIDField(required=False, allow_null=True)
    rich_parameter_values = ParameterValue(many=True, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("template_id") and not attrs.get("template_version_id"):
            raise serializers.ValidationError({"template_version_id": "Give template_id or template_version_id."})
        return attrs


@extend_schema(
    operation_id="workspaces_list",
    parameters=[
        OpenApiParameter("q", str, description="Filters: owner:<user|me> name:<text>"),
        OpenApiParameter("limit", int),
        OpenApiParameter("offset", int),
    ],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET"])
def workspace_list(request: Request) -> Response:
    filters = parse_workspace_query(request.query_params.get("q", ""))
    page = selectors.workspace_list_for_user(
        actor=request.user,
        owner=filters.get("owner"),
        name=filters.get("name"),
        limit=_int_param(request, "limit", 0, maximum=MAX_PAGE) or None,
        offset=_int_param(request, "offset", 0, maximum=MAX_OFFSET),
    )
    return Response({"workspaces": [workspace_json(w) for w in page.workspaces], "count": page.count})


@extend_schema(request=WorkspaceCreateInput, responses={201: OpenApiTypes.OBJECT})
@api_view(["POST"])
def workspace_create(request: Request, user: str) -> Response:
    data = _valid(WorkspaceCreateInput, request.data)
    workspace = services.workspace_create(
        actor=request.user,
        owner=user,
        name=data["name"],
        template_id=data.get("template_id"),
        template_version_id=data.get("template_version_id"),
        rich_parameters=_parameters(data.get("rich_parameter_values")),
    )
    return Response(workspace_json(workspace), status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def workspace_detail(request: Request, workspace_id: str) -> Response:
    return Response(workspace_json(selectors.workspace_get(actor=request.user, ref=workspace_id)))


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def workspace_by_owner_and_name(request: Request, user: str, name: str) -> Response:
    return Response(workspace_json(selectors.workspace_get(actor=request.user, ref=f"{user}/{name}")))


class BuildCreateInput(serializers.Serializer):
    transition = serializers.ChoiceField(choices=["start", "stop", "delete"])
    template_version_id = serializers.UUIDField(required=False, allow_null=True)
    rich_parameter_values = ParameterValue(many=True, required=False)


@extend_schema(
    request=BuildCreateInput,
    parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET", "POST"])
def workspace_builds(request: Request, workspace_id: str) -> Response:
    workspace = selectors.workspace_get(actor=request.user, ref=workspace_id)
    if request.method == "GET":
        builds = selectors.build_list(
            actor=request.user,
            workspace=workspace,
            limit=_int_param(request, "limit", 0, maximum=MAX_PAGE) or None,
            offset=_int_param(request, "offset", 0, maximum=MAX_OFFSET),
        )
        return Response([build_json(build) for build in builds])
    data = _valid(BuildCreateInput, request.data)
    build = services.workspace_build_create(
        actor=request.user,
        workspace=workspace,
        transition=data["transition"],
        template_version_id=data.get("template_version_id"),
        rich_parameters=_parameters(data.get("rich_parameter_values")),
    )
    build = selectors.build_get(actor=request.user, build_id=build.id)
    return Response(build_json(build), status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def build_detail(request: Request, build_id: str) -> Response:
    return Response(build_json(selectors.build_get(actor=request.user, build_id=build_id)))


@extend_schema(request=None, responses=OpenApiTypes.OBJECT)
@api_view(["PATCH"])
def build_cancel(request: Request, build_id: str) -> Response:
    services.workspace_build_cancel(actor=request.user, build_id=build_id)
    return Response({"message": "Job has been marked as canceled."})


@extend_schema(parameters=[AFTER], responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def build_logs(request: Request, build_id: str) -> Response:
    logs = selectors.build_logs(actor=request.user, build_id=build_id, after_id=_int_param(request, "after", 0))
    return Response([log_json(line) for line in logs])


@extend_schema(parameters=[AFTER], responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def agent_logs(request: Request, agent_id: str) -> Response:
    logs = selectors.agent_logs(actor=request.user, agent_id=agent_id, after_id=_int_param(request, "after", 0))
    return Response([agent_log_json(line) for line in logs])
