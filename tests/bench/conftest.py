"""Benchmarks run in two modes: ``scripts/bench`` (``--benchmark-enable``) measures and asserts every budget;
the normal test run (benchmarks disabled) runs each benchmark once as a smoke test, except those marked
``full_size_only``, whose set-up alone is the measurement (thousands of transactions) and belongs to the bench run.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_enable", default=False):
        return
    skip = pytest.mark.skip(reason="full-size benchmark: measured by scripts/bench, not by the test run")
    for item in items:
        if item.get_closest_marker("full_size_only") is not None:
            item.add_marker(skip)
