"""Loaded by pytest before Django's settings (``-p tests.testenv``): the suite gets its
own data directory, so it never touches a developer's ``.coder-data``.

Workspaces run unsandboxed by default here: many tests follow a command's processes by the
PIDs it prints (``$$``), which a sandbox's PID namespace renumbers, and keep files in their
``tmp_path``, which a sandboxed command cannot write. The sandbox's own tests
(``tests/workspaces/test_sandbox.py``) and the tool rows of ``tests/test_bad_input.py`` turn
it on, as production has it (``auto``).
"""

import os
import tempfile

os.environ.setdefault("CODER_DATA_DIR", tempfile.mkdtemp(prefix="coder-test-"))
os.environ.setdefault("CODER_WORKSPACE_SANDBOX", "off")
