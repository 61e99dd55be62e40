"""Wallet test helpers: a cheap KDF (the default costs ~0.5 s per open) and synthetic stored credentials.

Imported by the tests as ``wallet_helpers`` (pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import secrets

from credcore.keys import SigningKey
from wallet_sdk._seal import ScryptParams
from wallet_sdk.records import Cp1Copy, StatusRef, StoredCredential

NOW = 1_795_000_000  # tests/conftest.py FIXED_NOW
FAST_KDF = ScryptParams(n=2**10, r=8, p=1)
PASS = "correct horse battery staple"


def synthetic_credential(
    copies: int = 3, profile: str = "resident-basic", received_at: int = 1_795_000_000
) -> StoredCredential:
    """A structurally complete record whose credential bytes are random (the store never parses them)."""
    return StoredCredential(
        id="",
        vct="urn:civicpass:ResidentCredential:1",
        issuer="did:ethr:0x539:0x0000000000000000000000000000000000000001",
        received_at=received_at,
        issued_at=received_at - 10,
        expires_at=received_at + 86_400,
        sd_jwt="eyJhbGciOiJFUzI1NiJ9.e30.c2ln~",
        sd_jwt_key=SigningKey.generate(),
        copies=tuple(Cp1Copy(secrets.token_bytes(150), SigningKey.generate(), profile) for _ in range(copies)),
        status=StatusRef("http://127.0.0.1:8001/status-lists/1", 7),
        credential_issuer="http://127.0.0.1:8001",
        name="Resident",
    )
