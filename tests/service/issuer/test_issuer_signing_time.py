"""The chain's block time can run ahead of the issuer's clock (several blocks mined in one second). The key's
``validFrom`` is that block time, so whatever the key signs must not be dated before it, or verifiers refuse it
with ``key_not_valid_at_issuance``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from issuer_world import CLERK, RESIDENT, RESIDENT_CLAIMS, HolderKey, MemoryChain, TestClient

from credcore.sdjwt import unsafe_decode
from credcore.status_list import unsafe_decode_status_list_jwt
from issuer.anchoring import ChainReceipt
from issuer.api.app import build_service, create_app

AHEAD = 3


@dataclass
class ChainAhead(MemoryChain):
    """An in-memory chain whose block time is AHEAD seconds past the issuer's clock."""

    now: int = 0

    def add_key(self, key):
        super().add_key(key)
        self.block += 1
        return ChainReceipt("0x" + secrets.token_hex(32), self.block, self.now + AHEAD)


@pytest.fixture
def ahead_client(settings, clock):
    chain = ChainAhead(now=clock.now())
    service = build_service(settings, clock=clock, chain=chain)
    with TestClient(create_app(settings, service=service), raise_server_exceptions=False) as c:
        yield c, service
    service.sessions.kw["bind"].dispose()


def test_credentials_and_status_lists_are_never_dated_before_the_keys_chain_validity(ahead_client, clock):
    client, service = ahead_client
    (key,) = client.get("/v1/keys", headers={"Authorization": "Bearer dev-operator-token"}).json()["keys"]
    assert key["valid_from"] == clock.now() + AHEAD

    body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": [HolderKey().jwk]}
    issued = client.post("/v1/credentials", headers=CLERK, json=body)
    assert issued.status_code == 201, issued.text
    (sd_jwt,) = [c["credential"] for c in issued.json()["credentials"]]
    assert unsafe_decode(sd_jwt)["payload"]["iat"] >= key["valid_from"]

    service.worker.run_once(force=True)
    lists = [r for r in (client.get(f"/status-lists/{i}") for i in range(1, 4)) if r.status_code == 200]
    assert lists
    for served in lists:
        _, parsed = unsafe_decode_status_list_jwt(served.text)
        assert parsed.iat >= key["valid_from"]
