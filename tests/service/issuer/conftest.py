"""Fixtures for the issuer service tests: databases (SQLite file, and a fresh PostgreSQL database per test),
a fixed clock, an in-memory chain and a TestClient over ``create_app``. Helpers live in issuer_world.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from issuer_world import FixedClock, MemoryChain, TestClient, make_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from issuer.api.app import build_service, create_app


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def chain() -> MemoryChain:
    return MemoryChain()


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"civicpass_issuer_{secrets.token_hex(6)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/issuer.db"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/issuer.db"


@pytest.fixture
def settings(db_url):
    return make_settings(db_url)


@pytest.fixture
def service(settings, clock, chain):
    svc = build_service(settings, clock=clock, chain=chain)
    yield svc
    svc.sessions.kw["bind"].dispose()


@pytest.fixture
def client(settings, service) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service=service), raise_server_exceptions=False) as c:
        yield c
