"""The official conformance suite's "everything" fixture, served by our transport stack.

``@modelcontextprotocol/conformance`` calls tools, resources and prompts by fixed names
and checks fixed answers, so this toolset exists only for it (``make conformance``). It
runs without credentials, so it is routed only with ``CODER_MCP_CONFORMANCE_FIXTURE=1`` and
``CODER_DEBUG`` on (check ``coder.E003``).
"""

import asyncio
import json
from typing import Annotated

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import (
    AudioContent,
    CallToolResult,
    Completion,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from mcp_types import ImageContent as PromptImage
from pydantic import Field

from coderproject import __version__

# A 1x1 red PNG and a minimal WAV: the payloads the suite expects back.
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="


def _text(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)])


def _image() -> ImageContent:
    return ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")


def _embedded(uri: str, text: str, mime_type: str = "text/plain") -> EmbeddedResource:
    return EmbeddedResource(type="resource", resource=TextResourceContents(uri=uri, mime_type=mime_type, text=text))


# SEP-1613: a tool whose input schema uses JSON Schema 2020-12 features the SDK must keep.
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


async def json_schema_2020_12_tool(name: str | None = None, address: dict | None = None) -> CallToolResult:
    """Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)"""
    arguments = {key: value for key, value in (("name", name), ("address", address)) if value is not None}
    return _text(f"JSON Schema 2020-12 tool called with: {json.dumps(arguments)}")


def build_fixture_server() -> MCPServer:
    raw_schema_tool = Tool.from_function(json_schema_2020_12_tool).model_copy(
        update={"parameters": JSON_SCHEMA_2020_12}
    )
    server = MCPServer(name="mcp-conformance-test-server", version=__version__, tools=[raw_schema_tool])
    _add_tools(server)
    _add_resources(server)
    _add_prompts(server)
    _add_protocol_handlers(server)
    return server


def _add_tools(server: MCPServer) -> None:
    @server.tool(description="Tests simple text content response")
    async def test_simple_text() -> CallToolResult:
        return _text("This is a simple text response for testing.")

    @server.tool(description="Tests image content response")
    async def test_image_content() -> CallToolResult:
        return CallToolResult(content=[_image()])

    @server.tool(description="Tests audio content response")
    async def test_audio_content() -> CallToolResult:
        return CallToolResult(content=[AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")])

    @server.tool(description="Tests embedded resource content response")
    async def test_embedded_resource() -> CallToolResult:
        return CallToolResult(content=[_embedded("test://embedded-resource", "This is an embedded resource content.")])

    @server.tool(description="Tests response with multiple content types (text, image, resource)")
    async def test_multiple_content_types() -> CallToolResult:
        data = json.dumps({"test": "data", "value": 123})
        return CallToolResult(
            content=[
                TextContent(type="text", text="Multiple content types test:"),
                _image(),
                _embedded("test://mixed-content-resource", data, "application/json"),
            ]
        )

    @server.tool(description="Tests tool that emits log messages during execution")
    async def test_tool_with_logging(ctx: Context) -> CallToolResult:
        for line in ("Tool execution started", "Tool processing data", "Tool execution completed"):
            await ctx.info(line)
            await asyncio.sleep(0.05)
        return _text("Tool with logging executed successfully")

    @server.tool(description="Tests tool that reports progress notifications")
    async def test_tool_with_progress(ctx: Context) -> CallToolResult:
        for step in (0, 50, 100):
            await ctx.report_progress(step, 100, f"Completed step {step} of 100")
            await asyncio.sleep(0.05)
        token = (ctx.request_context.meta or {}).get("progress_token", 0)
        return _text(str(token))

    @server.tool(description="Tests SSE stream disconnection and client reconnection (SEP-1699)")
    async def test_reconnection(ctx: Context) -> CallToolResult:
        await ctx.close_sse_stream()
        await asyncio.sleep(0.1)
        return _text(
            "Reconnection test completed successfully. If you received this, "
            "the client properly reconnected after stream closure."
        )

    @server.tool(description="Tests error response handling")
    async def test_error_handling() -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text="This tool intentionally returns an error for testing")],
            is_error=True,
        )

    @server.tool(description="Tests server-initiated sampling (LLM completion request)")
    async def test_sampling(
        prompt: Annotated[str, Field(description="The prompt to send to the LLM")], ctx: Context
    ) -> CallToolResult:
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
            max_tokens=100,
            related_request_id=ctx.request_id,
        )
        content = result.content
        return _text(f"LLM response: {getattr(content, 'text', 'No response')}")

    async def elicit(ctx: Context, message: str, schema: dict, prefix: str) -> CallToolResult:
        result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
        return _text(f"{prefix}: action={result.action}, content={json.dumps(result.content or {})}")

    @server.tool(description="Tests server-initiated elicitation (user input request)")
    async def test_elicitation(
        message: Annotated[str, Field(description="The message to show the user")], ctx: Context
    ) -> CallToolResult:
        schema = {
            "type": "object",
            "properties": {"response": {"type": "string", "description": "User's response"}},
            "required": ["response"],
        }
        return await elicit(ctx, message, schema, "User response")

    @server.tool(description="Tests elicitation with default values per SEP-1034")
    async def test_elicitation_sep1034_defaults(ctx: Context) -> CallToolResult:
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
            "required": [],
        }
        message = "Please review and update the form fields with defaults"
        return await elicit(ctx, message, schema, "Elicitation completed")

    @server.tool(description="Tests elicitation with enum schema improvements per SEP-1330")
    async def test_elicitation_sep1330_enums(ctx: Context) -> CallToolResult:
        titled = [{"const": f"value{i}", "title": title} for i, title in enumerate(("First", "Second", "Third"), 1)]
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"],
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": [{**t, "title": f"{t['title']} Option"} for t in titled],
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"anyOf": [{**t, "title": f"{t['title']} Choice"} for t in titled]},
                },
            },
            "required": [],
        }
        return await elicit(ctx, "Please select options from the enum fields", schema, "Elicitation completed")


def _add_resources(server: MCPServer) -> None:
    @server.resource("test://static-text", name="static-text", title="Static Text Resource", mime_type="text/plain")
    async def static_text() -> str:
        """A static text resource for testing"""
        return "This is the content of the static text resource."

    @server.resource(
        "test://static-binary", name="static-binary", title="Static Binary Resource", mime_type="image/png"
    )
    async def static_binary() -> bytes:
        """A static binary resource (image) for testing"""
        import base64

        return base64.b64decode(PNG_BASE64)

    @server.resource(
        "test://template/{id}/data", name="template", title="Resource Template", mime_type="application/json"
    )
    async def template(id: str) -> str:  # noqa: A002 - the URI template's variable name
        """A resource template with parameter substitution"""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.resource(
        "test://watched-resource", name="watched-resource", title="Watched Resource", mime_type="text/plain"
    )
    async def watched() -> str:
        """A resource that can be subscribed to"""
        return "Watched resource content"


def _add_prompts(server: MCPServer) -> None:
    from mcp.server.mcpserver.prompts.base import UserMessage

    @server.prompt(name="test_simple_prompt", title="Simple Test Prompt")
    async def simple() -> list[UserMessage]:
        """A simple prompt without arguments"""
        return [UserMessage("This is a simple prompt for testing.")]

    @server.prompt(name="test_prompt_with_arguments", title="Prompt With Arguments")
    async def with_arguments(
        arg1: Annotated[str, Field(description="First test argument")],
        arg2: Annotated[str, Field(description="Second test argument")],
    ) -> list[UserMessage]:
        """A prompt with required arguments"""
        return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]

    @server.prompt(name="test_prompt_with_embedded_resource", title="Prompt With Embedded Resource")
    async def with_resource(
        resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # noqa: N803
    ) -> list[UserMessage]:
        """A prompt that includes an embedded resource"""
        return [
            UserMessage(content=_embedded(resourceUri, "Embedded resource content for testing.")),
            UserMessage("Please process the embedded resource above."),
        ]

    @server.prompt(name="test_prompt_with_image", title="Prompt With Image")
    async def with_image() -> list[UserMessage]:
        """A prompt that includes image content"""
        return [
            UserMessage(content=PromptImage(type="image", data=PNG_BASE64, mime_type="image/png")),
            UserMessage("Please analyze the image above."),
        ]


def _add_protocol_handlers(server: MCPServer) -> None:
    """Subscriptions, log level and completion: accepted, as the reference fixture does."""
    lowlevel = server._lowlevel_server  # MCPServer has no decorator for these methods
    subscriptions: set[str] = set()

    async def subscribe(ctx: ServerRequestContext, params: SubscribeRequestParams) -> EmptyResult:
        subscriptions.add(str(params.uri))
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: UnsubscribeRequestParams) -> EmptyResult:
        subscriptions.discard(str(params.uri))
        return EmptyResult()

    async def set_level(ctx: ServerRequestContext, params: SetLevelRequestParams) -> EmptyResult:
        return EmptyResult()

    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)

    @server.completion()
    async def complete(ref, argument, context) -> Completion:
        return Completion(values=[], total=0, has_more=False)
