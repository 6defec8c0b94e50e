"""Loaded by pytest before Django's settings (``-p tests.testenv``): the suite gets its
own data directory, so it never touches a developer's ``.coder-data``."""

import os
import tempfile

os.environ.setdefault("CODER_DATA_DIR", tempfile.mkdtemp(prefix="coder-test-"))
