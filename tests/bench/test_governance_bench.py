"""Governance budgets (issue #8): a 3-of-5 approval on chain under 200,000 gas; a signed trust snapshot verified
off chain under 10 ms with the native BLS backend.

Gas is exact, so it is measured on anvil (Prague) and asserted in every run. Off-chain time is the best of
several runs (other jobs on the machine's shared cores only ever add time), asserted in every run as well;
py_ecc's time is recorded beside it when benchmarks are enabled (``scripts/bench``), for comparison only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eth_utils import keccak
from web3 import Web3

from contracts import Signer, deploy_all, registries
from contracts.governance import TrustGovernance
from credcore import bls
from tests.bench.budget import record

GAS_BUDGET, VERIFY_BUDGET_S = 200_000, 0.010
SKS = [bls.keygen(keccak(text=f"bench-member-{i}")) for i in range(5)]
PKS = [bls.public_key(sk) for sk in SKS]
GOV = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BINDING = bls.SnapshotBinding(chain_id=31337, governance=GOV, block_number=1234)


def _best_of(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def test_signed_snapshot_verifies_offline_within_budget(benchmark):
    issuers = b",".join(b'{"id":"did:ethr:0x7a69:0x%040x","keys":["k"]}' % i for i in range(200))
    content = b'{"issuers":[' + issuers + b"]}"
    shares = [bls.sign_snapshot(SKS[i], content, BINDING) for i in (0, 2, 4)]
    signed = bls.SignedSnapshot(content, BINDING, bls.signer_bitmap([0, 2, 4]), bls.aggregate(shares)).to_bytes()

    def verify(backend: bls.Backend | None = None) -> None:
        bls.verify_signed_snapshot(signed, members=PKS, threshold=3, chain_id=31337, governance=GOV, backend=backend)

    assert bls.default_backend().name == "arkworks"
    best = _best_of(verify, 100)
    benchmark.extra_info.update(native_best_ms=round(best * 1000, 2), snapshot_bytes=len(signed))
    benchmark.pedantic(verify, rounds=20, iterations=1)
    if not benchmark.disabled:
        ref = _best_of(lambda: verify(bls.BACKENDS["py_ecc"]), 1)
        benchmark.extra_info.update(py_ecc_ms=round(ref * 1000))
    ok = record(benchmark, issue=8, what="verify a signed trust snapshot off chain (native BLS), best of 100",
                value=best * 1000, op="<", target=VERIFY_BUDGET_S * 1000, unit="ms")
    assert ok, f"best of 100: {best * 1000:.2f} ms"


@pytest.fixture(scope="module")
def anvil_w3(node_modules) -> Iterator[Web3]:
    import chain_local

    with chain_local.start_anvil(0, anvil=node_modules / ".bin" / "anvil") as chain:
        yield Web3(Web3.HTTPProvider(chain.url))


def test_three_of_five_approval_costs_under_200k_gas(anvil_w3, benchmark):
    import chain_local

    admin, relayer = (Signer(anvil_w3, a.private_key) for a in chain_local.dev_accounts()[:2])
    deployment = deploy_all(anvil_w3, admin, dev=True)
    trust = registries(anvil_w3, deployment)[0]
    members = [(pk, bls.prove_possession(sk)) for sk, pk in zip(SKS, PKS, strict=True)]
    gov = TrustGovernance.deploy(anvil_w3, admin, registry=trust.address, members=members, threshold=3)

    def accredit_args(n: int) -> tuple[str, str, str, list[str]]:
        account = Web3.to_checksum_address(f"0x{n:040x}")
        return account, f"did:ethr:0x7a69:{account}", "Market office", ["urn:civicpass:ResidentCredential:1"]

    args = accredit_args(0xA1)  # the same accreditation by the EOA admin, for the governance overhead
    direct = trust.accredit_issuer(args[0], identifier=args[1], name=args[2], credential_types=args[3],
                                   sender=admin).wait().gas_used
    trust.transfer_admin(gov.address, sender=admin).wait()

    def approve(proposal: bls.Proposal, signers: list[int]) -> int:
        nonce = gov.nonce()
        digest = gov.digest(proposal, nonce)
        sig = bls.aggregate([bls.sign(SKS[i], digest) for i in signers])
        return gov.execute(proposal, nonce=nonce, signers=bls.signer_bitmap(signers), signature=sig,
                           sender=relayer).wait().gas_used

    threshold = bls.Proposal.of(bls.Action.SET_THRESHOLD, 3)
    threshold_gas = benchmark.pedantic(approve, args=(threshold, [0, 2, 4]), rounds=1, iterations=1)
    accredit_gas = approve(bls.Proposal.of(bls.Action.ACCREDIT_ISSUER, *accredit_args(0xA2)), [1, 2, 3])
    benchmark.extra_info.update(
        approval_gas=threshold_gas, accredit_via_governance_gas=accredit_gas, accredit_direct_gas=direct,
        governance_overhead_gas=accredit_gas - direct,
    )
    approval = record(benchmark, issue=8, what="3-of-5 approval on chain (setThreshold)", value=threshold_gas, op="<",
                      target=GAS_BUDGET, unit="gas")
    # the base transaction is paid once either way
    overhead = record(benchmark, issue=8, what="3-of-5 approval overhead over a direct accreditation",
                      value=accredit_gas - direct, op="<", target=GAS_BUDGET - 21_000, unit="gas")
    assert approval, threshold_gas
    assert overhead
