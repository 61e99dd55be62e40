"""Chains for the contract tests: in-process py-evm (eth-tester, Prague) always, and anvil when node is present.

Every test that takes ``chain`` runs once per backend. Accounts are our own deterministic keys funded from the
node's unlocked dev account. Registries are deployed once per backend and every test starts from a chain
snapshot taken right after (eth-tester slows down as its chain grows, and deploying per test is slow), so tests
never see each other's state.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

from contracts import AnchorRegistry, Deployment, Signer, StatusRegistry, TrustRegistry, deploy_all, registries
from contracts._facade import Facade
from contracts._tx import Receipt

RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
ROLES = ("admin", "issuer", "issuer2", "outsider")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_anvil(node_modules: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start anvil (Prague) on a free port; returns the process and its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [str(node_modules / ".bin" / "anvil"), "--hardfork", "prague", "--port", str(port), "--silent", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("anvil did not start")


@pytest.fixture(scope="session")
def anvil_url(node_modules: Path) -> Iterator[str]:
    proc, url = start_anvil(node_modules)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def own_anvil(node_modules: Path) -> Iterator[Any]:
    """Start a fresh anvil with extra arguments (its mining or gas limit changed), stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> Web3:
        proc, url = start_anvil(node_modules, *extra)
        procs.append(proc)
        return Web3(Web3.HTTPProvider(url))

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@dataclass
class Chain:
    """One backend with funded signers by role, and helpers the tests share."""

    backend: str
    w3: Web3
    signers: dict[str, Signer]
    base: Deployment | None = None
    _snapshot: Any = None

    def snapshot(self) -> None:
        if self.backend == "tester":
            self._snapshot = self.w3.provider.ethereum_tester.take_snapshot()  # type: ignore[attr-defined]
        else:
            self._snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self) -> None:
        """Back to the last snapshot (and take it again: anvil consumes snapshots on revert)."""
        if self.backend == "tester":
            self.w3.provider.ethereum_tester.revert_to_snapshot(self._snapshot)  # type: ignore[attr-defined]
        else:
            assert self.w3.provider.make_request("evm_revert", [self._snapshot])["result"]  # type: ignore[arg-type]
        for signer in self.signers.values():
            signer.reset_nonce()
        self.snapshot()

    @property
    def admin(self) -> Signer:
        return self.signers["admin"]

    @property
    def issuer(self) -> Signer:
        return self.signers["issuer"]

    @property
    def issuer2(self) -> Signer:
        return self.signers["issuer2"]

    @property
    def outsider(self) -> Signer:
        return self.signers["outsider"]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block."""
        if self.backend == "tester":
            self.w3.provider.ethereum_tester.time_travel(self.now() + seconds)  # type: ignore[attr-defined]
        else:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def deploy(self) -> Deployment:
        return deploy_all(self.w3, self.admin, dev=True)

    def registries(self, d: Deployment) -> tuple[TrustRegistry, AnchorRegistry, StatusRegistry]:
        return registries(self.w3, d)

    def accredit(self, trust: TrustRegistry, signer: Signer, types: Sequence[str] = (RESIDENT,)) -> None:
        identifier = f"did:ethr:{hex(self.w3.eth.chain_id)}:{signer.address}"
        trust.accredit_issuer(
            signer.address, identifier=identifier, name=f"Issuer {signer.address[:8]}", credential_types=types,
            sender=self.admin,
        ).wait()

    @staticmethod
    def raw(facade: Facade, fn: str, args: Sequence[Any], sender: Signer, gas: int = 400_000) -> Receipt:
        """Call a contract function bypassing the facade's own argument checks, to exercise the contract's."""
        return facade._send(fn, args, sender=sender, gas=gas, preflight=False).wait()


def _fund(w3: Web3, addresses: Sequence[str]) -> None:
    funder = w3.eth.accounts[0]
    hashes = [w3.eth.send_transaction({"from": funder, "to": a, "value": 10**21}) for a in addresses]
    for h in hashes:
        w3.eth.wait_for_transaction_receipt(h)


def _make_chain(backend: str, w3: Web3) -> Chain:
    accounts = {role: Account.from_key(keccak(text=f"civicpass-test-{role}")) for role in ROLES}
    _fund(w3, [a.address for a in accounts.values()])
    chain = Chain(backend, w3, {role: Signer(w3, acct) for role, acct in accounts.items()})
    chain.base = chain.deploy()
    chain.accredit(chain.registries(chain.base)[0], chain.issuer)
    chain.snapshot()
    return chain


@pytest.fixture(scope="session")
def tester_chain() -> Chain:
    return _make_chain("tester", Web3(EthereumTesterProvider()))


@pytest.fixture(scope="session")
def anvil_chain(anvil_url: str) -> Chain:
    return _make_chain("anvil", Web3(Web3.HTTPProvider(anvil_url)))


@pytest.fixture(params=["tester", "anvil"])
def chain(request: pytest.FixtureRequest) -> Chain:
    """A backend reverted to just after its base deployment."""
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    chain.revert()
    return chain


@pytest.fixture
def deployed(chain: Chain) -> tuple[TrustRegistry, AnchorRegistry, StatusRegistry]:
    """The base registries, with ``chain.issuer`` accredited for the resident type."""
    assert chain.base is not None
    return chain.registries(chain.base)
