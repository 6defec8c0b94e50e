"""System checks that refuse unsafe production settings and warn about weak ones (ids are
stable: coder.E00N, coder.W00N)."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def production_settings(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if settings.SECRET_KEY_GENERATED:
        errors.append(
            Error(
                "CODER_DEBUG is off but the secret key is the generated development key.",
                hint="Set CODER_SECRET_KEY (or CODER_SECRET_KEY_FILE) to a long random value shared by every worker.",
                id="coder.E001",
            )
        )
    if not settings.CODER_ACCESS_URL.startswith("https://"):
        errors.append(
            Error(
                f"CODER_DEBUG is off but CODER_ACCESS_URL ({settings.CODER_ACCESS_URL}) is not https.",
                hint="Serve the deployment over TLS and set CODER_ACCESS_URL=https://...; "
                "behind a TLS proxy also set CODER_SECURE_PROXY_SSL_HEADER.",
                id="coder.E002",
            )
        )
    if settings.CODER_MCP_CONFORMANCE_FIXTURE:
        errors.append(
            Error(
                "CODER_DEBUG is off but CODER_MCP_CONFORMANCE_FIXTURE is on (an MCP server without credentials).",
                hint="The conformance fixture is for development: unset CODER_MCP_CONFORMANCE_FIXTURE.",
                id="coder.E003",
            )
        )
    return errors


@register(Tags.security)
def workspace_sandbox(app_configs, **kwargs) -> list[Warning]:
    """Say at start-up when workspace commands will not run in the sandbox."""
    from workspaces.runtime.host import find_sandbox

    if settings.CODER_WORKSPACE_SANDBOX == "off":
        return []
    bwrap, reason = find_sandbox()
    if bwrap is not None:
        return []
    if settings.CODER_WORKSPACE_SANDBOX == "required":
        return [
            Warning(
                f"CODER_WORKSPACE_SANDBOX=required but {reason}: local workspaces will not start.",
                hint="Install bubblewrap (apt-get install bubblewrap) or set CODER_WORKSPACE_SANDBOX=auto.",
                id="coder.W001",
            )
        ]
    return [
        Warning(
            f"Workspace commands run without a sandbox: {reason}.",
            hint="Install bubblewrap (apt-get install bubblewrap); docs/security.md says what it isolates.",
            id="coder.W002",
        )
    ]


@register(Tags.security)
def workspace_process_limit(app_configs, **kwargs) -> list[Warning]:
    """Say at start-up when CODER_WORKSPACE_MAX_PROCESSES binds nothing: the kernel does not
    apply RLIMIT_NPROC to root, so as root only a pids cgroup or the sandbox's user namespace
    stops a fork bomb."""
    from workspaces.runtime.host import find_sandbox, pids_cgroup_base

    if not settings.CODER_WORKSPACE_MAX_PROCESSES or os.geteuid() != 0 or pids_cgroup_base() is not None:
        return []
    if settings.CODER_WORKSPACE_SANDBOX != "off" and find_sandbox()[0] is not None:
        return []
    return [
        Warning(
            "CODER_WORKSPACE_MAX_PROCESSES is not enforced: the server runs as root, can make no pids cgroup "
            "and workspace commands run without the sandbox.",
            hint="Run the server as an unprivileged user, delegate a cgroup to it, or install bubblewrap.",
            id="coder.W003",
        )
    ]
