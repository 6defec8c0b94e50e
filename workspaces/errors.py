"""Domain errors: every front end (REST, MCP, admin, commands) maps them to its own shape.

REST answers 404/400/409/403 with Coder's JSON body; MCP answers a tool result with
``isError``. ``field`` names the input at fault so the caller can fix exactly that.
"""

NOT_FOUND_MESSAGE = "Resource not found or you do not have access to this resource"


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def validations(self) -> list[dict[str, str]]:
        return [{"field": self.field, "detail": self.message}] if self.field else []


class NotFound(DomainError):
    """The thing does not exist or the caller may not see it (the two are never told apart)."""

    status = 404

    def __init__(self, message: str = NOT_FOUND_MESSAGE, *, field: str | None = None, detail: str = "") -> None:
        super().__init__(message, field=field, detail=detail)


class InvalidInput(DomainError):
    status = 400


class Conflict(DomainError):
    """The request is valid but the current state does not allow it (e.g. a build in progress)."""

    status = 409


class Forbidden(DomainError):
    """The caller may see the thing but not change it."""

    status = 403
