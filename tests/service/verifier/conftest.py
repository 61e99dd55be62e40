"""Fixtures for the verifier service tests; the world they build lives in verifier_world.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from verifier_world import AUDIENCE, TestClient, World

from verifier.api.app import create_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def settings(tmp_path) -> VerifierSettings:
    return VerifierSettings(environment="test", data_dir=tmp_path, audience=AUDIENCE, public_url="http://testserver")


@pytest.fixture
def client(world, settings) -> Iterator[TestClient]:
    app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


