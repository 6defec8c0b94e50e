"""How commands and file operations reach a workspace: one narrow, async interface.

REST, MCP and the admin go through ``AgentConnection`` only, so a workspace running as
local child processes (``local``) and one behind a remote agent look the same to them.
Paths are resolved inside the workspace; escapes raise ``InvalidInput``.
"""

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workspaces.errors import Conflict

if TYPE_CHECKING:  # the agent imports this package without Django
    from workspaces.models import Workspace

MAX_READ_BYTES = 1024 * 1024
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
TIMEOUT_EXIT_CODE = 124
TIMEOUT_NOTE = "Command canceled due to timeout"

OutputCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ExecResult:
    output: str
    exit_code: int
    truncated: bool = False
    timed_out: bool = False


@dataclass(frozen=True)
class Entry:
    path: str
    is_dir: bool


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str
    replace_all: bool = False


@dataclass(frozen=True)
class EditResult:
    path: str
    replacements: int


class AgentConnection(ABC):
    """A connection to a workspace's agent. Cancelling an awaiting ``exec`` kills its process group."""

    directory: str

    @abstractmethod
    async def exec(
        self,
        command: str,
        *,
        timeout_s: float,
        background: bool = False,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        on_output: OutputCallback | None = None,
    ) -> ExecResult:
        """Run a shell command (stdout and stderr combined); exit code 124 on timeout."""

    @abstractmethod
    async def ls(self, path: str) -> list[Entry]: ...

    @abstractmethod
    async def read(self, path: str, *, offset: int = 0, limit: int = MAX_READ_BYTES) -> bytes:
        """At most ``MAX_READ_BYTES`` from ``offset``."""

    @abstractmethod
    async def write(self, path: str, data: bytes) -> None:
        """Replace the file atomically, creating parent directories."""

    @abstractmethod
    async def edit(self, path: str, edits: list[Edit]) -> EditResult:
        """Apply search/replace edits in order; each must match once unless ``replace_all``."""


def connection_for(workspace: "Workspace") -> AgentConnection:
    """The connection to a running workspace's agent (``Conflict`` when it is not running).

    Reads ``workspace.owner`` and ``workspace.latest_build`` (with its template version):
    call it from sync code, or pass a workspace from ``selectors.workspace_get``.
    """
    from workspaces.runtime.local import LocalAgentConnection, build_environment, process_policy, workspace_directory

    build = workspace.latest_build
    if build is None or build.transition != "start" or build.status != "running":
        raise Conflict(f"Workspace {workspace.name} is {workspace.status}; start it first.")
    agent = getattr(build, "agent", None)
    if agent is not None and agent.token_hash:  # a remote agent dialed in for this build
        from workspaces.runtime.remote import ChannelAgentConnection

        return ChannelAgentConnection(agent_id=agent.id, directory=agent.directory)
    return LocalAgentConnection(
        root=workspace_directory(workspace.id),
        env=build_environment(build),
        workspace_id=str(workspace.id),
        policy=process_policy(),
    )
