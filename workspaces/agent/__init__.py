"""The workspace agent: a standalone program that dials the server and runs the workspace.

Run it where the workspace lives (``python -m workspaces.agent --url URL --token TOKEN``).
It needs the standard library, ``websockets`` and this package's ``workspaces.runtime``
and ``workspaces.errors`` modules, which import no Django.
"""
