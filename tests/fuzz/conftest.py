"""The integration suite's fixtures (an in-process server on 127.0.0.1:0, a raw
protocol client), shared with the fuzz tests, and the fuzz stage (arena.py)."""

import pytest

# The shared checks assert in helper modules: show their values on failure too.
pytest.register_assert_rewrite("tests.fuzz.arena")

from tests.fuzz.arena import arena  # noqa: E402, F401
from tests.integration.conftest import raw_client, start_server  # noqa: E402, F401
