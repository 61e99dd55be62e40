"""Fixtures for the end-to-end tests; the processes, the wallet and helpers live in e2e_world.py.

Logs of every process of a failed test are printed after it (pytest shows them with the failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_world import Stack, fresh_database


@pytest.fixture(autouse=True)
def _print_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for name in ("stack", "pg_stack", "backend_stack"):
            if name in request.fixturenames:
                print(request.getfixturevalue(name).logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The default system: embedded chain, SQLite; shared by a module's tests (they use their own holders)."""
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        yield s.start()
    finally:
        s.close()


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres),
                                        pytest.param("anvil", marks=pytest.mark.node)])
def backend_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same system on PostgreSQL (a fresh database per service and run) or on anvil (SQLite)."""
    drops = []
    if request.param == "postgres":
        postgres_url = request.getfixturevalue("postgres_url")
        urls = {}
        for name in ("cityhall", "market", "verifier"):
            urls[name], drop = fresh_database(postgres_url)
            drops.append(drop)
        s = Stack(tmp_path_factory.mktemp("pg"), db_urls=urls)
    else:
        request.getfixturevalue("node_modules")
        s = Stack(tmp_path_factory.mktemp("anvil"), engine="anvil")
    try:
        yield s.start()
    finally:
        s.close()
        for drop in drops:
            drop()
