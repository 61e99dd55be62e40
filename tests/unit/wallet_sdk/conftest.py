"""Fixtures for the wallet tests: a fresh wallet with the cheap test KDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from wallet_helpers import FAST_KDF, PASS

from wallet_sdk.store import Wallet


@pytest.fixture
def wallet(tmp_path: Path) -> Wallet:
    return Wallet.create(tmp_path / "w", PASS, kdf=FAST_KDF)
