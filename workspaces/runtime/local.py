"""The embedded runtime: each workspace is a directory, its processes are local children.

The process and file code lives in ``host.py`` (shared with the standalone agent); this
module adds what needs Django: where workspaces live, their environment, build steps.
"""

import io
import os
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path

from django.conf import settings

from workspaces.manifest import Manifest
from workspaces.models import WorkspaceBuild
from workspaces.runtime.host import SHELL, LocalAgentConnection, ProcessPolicy, kill_workspace_processes

__all__ = [
    "SHELL",
    "LocalAgentConnection",
    "ProcessPolicy",
    "PASSED_THROUGH",
    "build_environment",
    "host_environment",
    "kill_workspace_processes",
    "lay_in_home",
    "process_policy",
    "remove_directory",
    "workspace_directory",
]

PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def host_environment(names: tuple[str, ...] = PASSED_THROUGH) -> dict[str, str]:
    """The server's own values of ``names`` (those it has): nothing else of its environment."""
    return {name: os.environ[name] for name in names if name in os.environ}


def workspace_directory(workspace_id: uuid.UUID | str) -> Path:
    return Path(settings.CODER_WORKSPACES_DIR) / str(workspace_id)


def process_policy() -> ProcessPolicy:
    """The limits and sandbox from the settings, for local processes and remote agents alike."""
    mebibyte = 1024 * 1024
    return ProcessPolicy(
        max_processes=settings.CODER_WORKSPACE_MAX_PROCESSES or None,
        max_memory_bytes=settings.CODER_WORKSPACE_MAX_MEMORY_MB * mebibyte or None,
        max_file_bytes=settings.CODER_WORKSPACE_MAX_FILE_MB * mebibyte or None,
        sandbox=settings.CODER_WORKSPACE_SANDBOX,
        hidden_paths=sandbox_hidden_paths(),
        network=settings.CODER_WORKSPACE_NETWORK,
    )


def sandbox_hidden_paths() -> tuple[str, ...]:
    """What a sandboxed command must not see of this server: other workspaces, the data
    directory (SQLite database, generated secret key, uploads), the files every ``*_FILE``
    variable names (secrets), and the operator's list. Only the server knows these paths,
    so they travel in the policy."""
    database = settings.DATABASES["default"]
    paths = [
        settings.DATA_DIR,
        settings.CODER_WORKSPACES_DIR,
        *([database["NAME"]] if database["ENGINE"].endswith("sqlite3") else []),
        *(value for name, value in os.environ.items() if name.endswith("_FILE") and value),
        *settings.CODER_WORKSPACE_SANDBOX_HIDE,
    ]
    return tuple(dict.fromkeys(os.path.realpath(path) for path in paths))


def build_environment(build: WorkspaceBuild) -> dict[str, str]:
    """What a workspace's processes see: a clean environment (no server secrets), Coder's
    variables, the template's ``env`` and the parameters as ``CODER_PARAMETER_<NAME>``."""
    workspace = build.workspace
    home = str(workspace_directory(workspace.id))
    env = host_environment()
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    manifest = Manifest.from_json(build.template_version.manifest or {})
    env.update(manifest.env)
    for name, value in (build.parameters or {}).items():
        env["CODER_PARAMETER_" + name.upper().replace("-", "_")] = value
    env.update(
        HOME=home,
        PWD=home,
        USER=workspace.owner.username,
        SHELL=SHELL,
        CODER="true",
        CODER_WORKSPACE_NAME=workspace.name,
        CODER_WORKSPACE_OWNER_NAME=workspace.owner.username,
        CODER_WORKSPACE_AGENT_NAME="main",
        CODER_WORKSPACE_ID=str(workspace.id),
    )
    return env


# ---------------------------------------------------------------------------
# Build steps (run by the provisioner)
# ---------------------------------------------------------------------------


def lay_in_home(*, directory: Path, archive: bytes, home: str) -> int:
    """First start: create the directory with the archive's ``home`` files; later starts keep it."""
    if directory.exists():
        return 0
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    prefix = home.strip("/") + "/"
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            members = []
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if name.startswith(prefix) and len(name) > len(prefix):
                    member.name = name[len(prefix) :]
                    members.append(member)
                    count += member.isfile()
            tar.extractall(staging, members=members, filter="data")
        staging.chmod(0o755)
        os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
