"""Separate hosts on this machine (tests/netlab.py): they need root, iproute2 and
iptables. Without them the tests are skipped with a loud reason, unless
SIGNFED_REQUIRE_NETNS=1 (set by .ci/run) turns the skip into a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netlab import NetLab, missing

REQUIRED = os.environ.get("SIGNFED_REQUIRE_NETNS") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.netns)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _netns_available() -> None:
    reason = missing()
    if reason:
        message = f"SEPARATE-HOST TESTS NOT RUN: {reason}"
        if REQUIRED:
            pytest.fail(message + " (SIGNFED_REQUIRE_NETNS=1)")
        pytest.skip(message)


@pytest.fixture
def lab() -> Iterator[NetLab]:
    """A lab for one test, removed after it whatever the test did."""
    made = NetLab()
    try:
        yield made
    finally:
        made.close()
        assert made.leftovers() == [], f"the lab left {made.leftovers()}"
