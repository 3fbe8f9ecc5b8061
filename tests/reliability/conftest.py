"""Reliability suite: the short version runs by default; tests marked `reliability_full` (every scenario,
several repetitions) run only when selected: `pytest tests/reliability -m reliability_full`."""
from __future__ import annotations

import pytest

FULL = "reliability_full"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{FULL}: the full fault suite (long); runs only with -m {FULL}")


def pytest_collection_modifyitems(config, items):
    if FULL in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason=f"full reliability suite: select it with -m {FULL}")
    for item in items:
        if FULL in item.keywords:
            item.add_marker(skip)
