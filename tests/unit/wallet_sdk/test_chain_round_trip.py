"""``civicpass wallet`` trusting only the chain: the issuer's key from the TrustRegistry, status list digests
from the StatusRegistry, anchor roots from the AnchorRegistry (py-evm in-process through web3's
EthereumTesterProvider; the real issuer app writes to it through its chain gateway)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

from civicpass import wallet_cmd
from civicpass.cli import main
from contracts import TrustSync, deploy_all, registries
from contracts._tx import Signer
from credcore.did import did_ethr
from issuer.api.app import build_service, create_app
from issuer.chain import Web3Chain
from issuer.settings import IssuerSettings
from wallet_sdk.anchor import attach_anchor_proofs
from wallet_sdk.store import Wallet

with warnings.catch_warnings():  # starlette warns that its TestClient prefers httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.chain

BASE = "http://issuer.test"
CLERK = {"Authorization": "Bearer dev-clerk-token"}
OPERATOR = {"Authorization": "Bearer dev-operator-token"}
RESIDENT = "urn:civicpass:ResidentCredential:1"
CLAIMS = {"name": "김민지", "birth_date": "2000-03-01", "city": "부산광역시", "district": "해운대구",
          "resident_since": "2019-05-02"}  # fmt: skip


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    w3 = Web3(EthereumTesterProvider())
    admin, issuer = (Account.from_key(keccak(text=f"civicpass-wallet-test-{r}")) for r in ("admin", "issuer"))
    for acct in (admin, issuer):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**21}))  # fmt: skip
    deployment = deploy_all(w3, admin, dev=True)
    registries(w3, deployment)[0].accredit_issuer(
        issuer.address, identifier=did_ethr(issuer.address, deployment.chain_id), name="Busan",
        credential_types=[RESIDENT], sender=Signer(w3, admin)).wait()  # fmt: skip
    deployment.save(tmp_path / "deployment.json")
    clock = Clock(int(w3.eth.get_block("latest")["timestamp"]))
    settings = IssuerSettings(environment="test", database_url=f"sqlite:///{tmp_path}/i.db", base_url=BASE,
                              run_workers=False)  # fmt: skip
    svc = build_service(settings, clock=clock, chain=Web3Chain(w3, deployment, issuer.key))
    clock.t = int(w3.eth.get_block("latest")["timestamp"]) + 1  # the key's window starts at its block
    with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as client:
        monkeypatch.setenv("CIVICPASS_WALLET", str(tmp_path / "wallet"))
        monkeypatch.setenv("CIVICPASS_WALLET_PASSPHRASE", "chain test")
        monkeypatch.setattr(wallet_cmd, "_now", clock.now)
        monkeypatch.setattr(wallet_cmd, "_web3", lambda _deployment: w3)
        monkeypatch.setattr(wallet_cmd, "_http", lambda: TestClient(client.app))
        yield {"w3": w3, "deployment": deployment, "svc": svc, "client": client, "clock": clock,
               "chain_file": str(tmp_path / "deployment.json")}  # fmt: skip
    svc.sessions.kw["bind"].dispose()


def test_accept_check_status_and_keep_anchor_proofs_from_the_chain(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    client, svc, clock, chain_file = world["client"], world["svc"], world["clock"], world["chain_file"]
    assert main(["wallet", "init", "--insecure-fast-kdf"]) == 0
    offer = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS}).json()
    args = ["--chain", chain_file, "--allow-http"]
    assert (
        main(["wallet", "accept", offer["credential_offer_uri"], "--tx-code", offer["tx_code"], "--copies", "2", *args])
        == 0
    )
    capsys.readouterr()
    assert main(["wallet", "list", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["issuer"].startswith("did:ethr:")

    svc.worker.run_once(force=True)  # anchors the batch, publishes the status list digest on chain
    assert main(["wallet", "status", entry["id"], *args]) == 0
    cid = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"][0]["id"]
    assert client.post(f"/v1/credentials/{cid}/revoke", headers=OPERATOR).status_code == 200
    clock.t += 2
    svc.worker.run_once(force=True)  # publishes the changed list and its new digest
    capsys.readouterr()
    assert main(["wallet", "status", entry["id"], *args]) == 1
    assert "revoked" in capsys.readouterr().out

    snapshot = TrustSync(world["w3"], world["deployment"]).sync().snapshot(now=clock.now())
    items = client.get(f"/v1/credentials/{cid}/anchor", headers=OPERATOR).json()["items"]
    wallet = Wallet.open(os.environ["CIVICPASS_WALLET"], "chain test")
    report = attach_anchor_proofs(wallet, entry["id"], items, trust=snapshot)
    assert (report.anchored, report.pending, report.total) == (3, 0, 3)
