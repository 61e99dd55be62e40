"""The Python side: deployment files, revert decoding, connection failures, gas, pipelined sending."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from contracts import Deployment, DevAccount, Signer, TrustRegistry, TrustSync, wait_all
from contracts._artifacts import CONTRACT_NAMES, GOVERNANCE, load_artifact
from contracts._tx import _POLL_MAX
from contracts.errors import (
    _BY_ERROR_NAME,
    DeploymentFileError,
    IssuerNotActiveError,
    TransactionFailedError,
    decode_revert,
    revert_data_of,
)
from credcore.errors import ChainUnavailableError, CredError, all_error_classes

pytestmark = pytest.mark.chain

ADDR = "0x" + "11" * 20


# --- deployment file -----------------------------------------------------------------------------------
def _deployment(**kw) -> Deployment:
    base = {"chain_id": 31337, "trust_registry": ADDR, "anchor_registry": ADDR, "status_registry": ADDR}
    return Deployment(**{**base, **kw})


def test_deployment_file_round_trips_with_dev_keys_private(tmp_path):
    d = _deployment(
        dev=True, rpc_url="http://127.0.0.1:8545", from_block=3,
        accounts=(DevAccount("admin", Web3.to_checksum_address(ADDR), "0x" + "22" * 32),),
    )
    path = tmp_path / "deployment.json"
    d.save(path)
    assert Deployment.load(path) == d
    assert path.stat().st_mode & 0o777 == 0o600
    assert d.account("admin").private_key == "0x" + "22" * 32
    assert "22" * 32 not in repr(d)
    with pytest.raises(DeploymentFileError):
        d.account("nobody")


def test_the_governance_address_round_trips_and_is_optional(tmp_path):
    gov = Web3.to_checksum_address("0x" + "33" * 20)
    path = tmp_path / "deployment.json"
    _deployment(governance=gov).save(path)
    assert Deployment.load(path).governance == gov
    assert gov not in Deployment.load(path).addresses  # trust sync reads the registries only
    _deployment().save(path)
    assert Deployment.load(path).governance is None
    assert "TrustGovernance" not in json.loads(path.read_text())["contracts"]


def test_private_keys_are_refused_outside_dev(tmp_path):
    account = DevAccount("admin", Web3.to_checksum_address(ADDR), "0x" + "22" * 32)
    with pytest.raises(DeploymentFileError):
        _deployment(accounts=(account,))
    raw = _deployment(dev=True, accounts=(account,)).to_json() | {"dev": False}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DeploymentFileError):
        Deployment.load(path)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"format": "other"}),
        json.dumps(_deployment().to_json() | {"contracts": {}}),
        json.dumps(_deployment().to_json() | {"chainId": "1"}),
        json.dumps(_deployment().to_json() | {"rpcUrl": 5}),
        json.dumps(_deployment().to_json() | {"contracts": {"TrustRegistry": ADDR, "AnchorRegistry": ADDR,
                                                             "StatusRegistry": ADDR, "TrustGovernance": "0x12"}}),
        json.dumps(_deployment().to_json() | {"contracts": {"TrustRegistry": "0x12", "AnchorRegistry": ADDR,
                                                             "StatusRegistry": ADDR}}),
    ],
)
def test_malformed_deployment_files_are_refused(tmp_path, text):
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DeploymentFileError):
        Deployment.load(path)
    with pytest.raises(DeploymentFileError):
        Deployment.load(tmp_path / "missing.json")


def test_deploy_all_wires_the_registries(chain):
    d = chain.base
    assert d.chain_id == chain.w3.eth.chain_id and d.from_block > 0
    trust = TrustRegistry(chain.w3, d.trust_registry)
    assert trust.registries() == [d.anchor_registry, d.status_registry]
    assert trust.admin() == chain.admin.address
    for address in d.addresses:
        assert len(chain.w3.eth.get_code(address)) > 0


# --- errors ----------------------------------------------------------------------------------------------
def test_every_custom_error_in_the_abis_has_a_credcore_class():
    contracts = (*CONTRACT_NAMES, GOVERNANCE)
    names = {i["name"] for c in contracts for i in load_artifact(c).abi if i["type"] == "error"}
    assert names == set(_BY_ERROR_NAME)


def test_registry_error_codes_are_unique_and_prefixed():
    ours = [c for c in all_error_classes() if c.__module__ == "contracts.errors"]
    assert ours and all(c.code.startswith(("registry_", "governance_")) for c in ours)
    codes = [c.code for c in all_error_classes()]
    assert len(codes) == len(set(codes))


def test_unknown_or_missing_revert_data_is_a_failed_transaction():
    assert isinstance(decode_revert(None), TransactionFailedError)
    assert isinstance(decode_revert(b"\x01\x02"), TransactionFailedError)
    assert decode_revert(b"\xde\xad\xbe\xef").context["selector"] == "0xdeadbeef"
    selector = keccak(text="IssuerGateNotActiveIssuer(address)")[:4]
    assert isinstance(decode_revert(selector + b"\x00" * 5), TransactionFailedError)  # truncated arguments
    err = decode_revert(selector + bytes(12) + bytes.fromhex(ADDR[2:]))
    assert isinstance(err, IssuerNotActiveError) and err.context["caller"] == Web3.to_checksum_address(ADDR)


def test_revert_data_is_found_in_web3_and_eth_tester_exceptions():
    class Web3Style(Exception):
        data = "0xdeadbeef"

    assert revert_data_of(Web3Style()) == b"\xde\xad\xbe\xef"
    assert revert_data_of(Exception("execution reverted: b'\\xde\\xad'")) == b"\xde\xad"
    assert revert_data_of(Exception("execution reverted: some reason")) is None
    assert revert_data_of(Exception()) is None


def test_unreachable_chain_is_chain_unavailable(chain):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 2}))
    with pytest.raises(ChainUnavailableError):
        TrustRegistry(w3, ADDR).admin()
    with pytest.raises(ChainUnavailableError):
        Signer(w3, "0x" + "33" * 32).send(ADDR, b"", gas=21_000)
    with pytest.raises(ChainUnavailableError):
        TrustSync(w3, chain.base).sync()


# --- sending -----------------------------------------------------------------------------------------------
def test_out_of_gas_is_reported_as_such(chain, deployed):
    _, anchors, _ = deployed
    data = bytes.fromhex(anchors._c.encode_abi("anchor", [b"\x01" * 32, 1])[2:])
    with pytest.raises(TransactionFailedError, match="out of gas"):
        chain.issuer.send(anchors.address, data, gas=30_000).wait()


def test_pipelined_transactions_all_land_in_nonce_order(chain, deployed):
    _, anchors, _ = deployed
    roots = [keccak(i.to_bytes(4, "big")) for i in range(12)]
    pending = [anchors.anchor(r, 1, sender=chain.issuer, preflight=False) for r in roots[:4]]
    pending += anchors.anchor_many([(r, 1) for r in roots[4:]], sender=chain.issuer)
    receipts = wait_all(pending)
    assert [r.block_number for r in receipts] == sorted(r.block_number for r in receipts)
    assert all(anchors.anchor_of(r) is not None for r in roots)


def test_a_failing_transaction_in_a_pipeline_raises_its_own_error(chain, deployed):
    _, anchors, _ = deployed
    good = anchors.anchor(b"\x0a" * 32, 1, sender=chain.issuer, preflight=False)
    bad = anchors.anchor(b"\x0b" * 32, 1, sender=chain.outsider, preflight=False)
    assert good.wait().gas_used > 0
    with pytest.raises(IssuerNotActiveError) as info:
        bad.wait()
    assert isinstance(info.value, CredError)


def test_signer_recovers_its_nonce_after_a_rejected_send(chain, deployed):
    _, anchors, _ = deployed
    anchors.anchor(b"\x0e" * 32, 1, sender=chain.issuer, preflight=False).wait()
    stranger = Signer(chain.w3, chain.issuer._account)  # a second counter for the same account
    anchors.anchor(b"\x0c" * 32, 1, sender=stranger, preflight=False).wait()
    with pytest.raises(TransactionFailedError):  # chain.issuer's counter is now behind
        anchors.anchor(b"\x0d" * 32, 1, sender=chain.issuer, preflight=False)
    anchors.anchor(b"\x0d" * 32, 1, sender=chain.issuer, preflight=False).wait()


# --- transactions a node drops from its pool ----------------------------------------------------------
def _funded_signer(w3: Web3, tag: str) -> Signer:
    account = Account.from_key(keccak(text=f"civicpass-test-{tag}"))
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**20})
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return Signer(w3, account)


def _known(w3: Web3, tx_hash: bytes) -> bool:
    return w3.provider.make_request("eth_getTransactionByHash", ["0x" + tx_hash.hex()]).get("result") is not None


def test_wait_all_sends_again_what_anvil_dropped_while_filling_a_block(own_anvil):
    # The burst of the 10,000-event benchmark: a full block skips a sender's transaction that does not fit, tries
    # the next, smaller one, and anvil drops that one (nonce too high) with everything after it.
    w3 = own_anvil("--no-mining", "--gas-limit", "100000")
    signer = _funded_signer(w3, "full-block")
    to = w3.eth.accounts[1]
    pending = signer.send_many([(to, b"", 60_000), (to, b"", 90_000), (to, b"", 30_000), (to, b"", 30_000)])
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    receipts = wait_all(pending, timeout=15, resend_after=0.5)
    assert [r.block_number for r in receipts] == sorted(r.block_number for r in receipts)
    assert w3.eth.get_transaction_count(signer.address) == 4


def test_wait_all_sends_again_what_the_node_forgot(own_anvil):
    w3 = own_anvil("--no-mining")
    signer = _funded_signer(w3, "forgotten")
    to = w3.eth.accounts[1]
    pending = signer.send_many([(to, b"", 21_000)] * 3)
    w3.provider.make_request("anvil_dropTransaction", ["0x" + pending[1].tx_hash.hex()])  # type: ignore[arg-type]
    assert not _known(w3, pending[1].tx_hash) and not _known(w3, pending[2].tx_hash)
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    assert len(wait_all(pending, timeout=15, resend_after=0.5)) == 3


def test_wait_sends_again_a_transaction_the_node_forgot(own_anvil):
    # What the issuer's anchoring, status publishing and key rotation wait on: one transaction at a time.
    w3 = own_anvil("--no-mining")
    signer = _funded_signer(w3, "forgotten-one")
    pending = signer.send(w3.eth.accounts[1], b"", gas=21_000)
    w3.provider.make_request("anvil_dropTransaction", ["0x" + pending.tx_hash.hex()])  # type: ignore[arg-type]
    assert not _known(w3, pending.tx_hash)
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    assert pending.wait(timeout=15, resend_after=0.5).block_number > 0
    assert w3.eth.get_transaction_count(signer.address) == 1


def test_a_sender_stalled_on_a_dropped_transaction_is_not_held_up_by_others_landing(own_anvil):
    # Another sender's transactions land in every block; the stalled sender's dropped ones are sent again meanwhile.
    w3 = own_anvil("--no-mining", "--gas-limit", "50000")  # two transfers a block
    fee = 100 * 10**9  # fixed: full blocks raise the base fee
    stalled = Signer(w3, _funded_signer(w3, "stalled")._account, max_fee=fee)
    busy = Signer(w3, _funded_signer(w3, "busy")._account, max_fee=fee)
    to = w3.eth.accounts[1]
    mine = stalled.send_many([(to, b"", 21_000)] * 3)
    others = busy.send_many([(to, b"", 21_000)] * 12)
    w3.provider.make_request("anvil_dropTransaction", ["0x" + mine[1].tx_hash.hex()])  # type: ignore[arg-type]
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    waiter = threading.Thread(target=wait_all, args=(mine + others,), kwargs={"timeout": 30, "resend_after": 1.5})
    waiter.start()
    while not _known(w3, mine[1].tx_hash) and waiter.is_alive():
        time.sleep(0.05)
    busy_landed = w3.eth.get_transaction_count(busy.address)
    waiter.join(timeout=30)
    assert busy_landed < len(others)
    assert w3.eth.get_transaction_count(stalled.address) == len(mine)


@pytest.mark.parametrize(
    "wait",
    [lambda p: wait_all([p], timeout=30, resend_after=0.5), lambda p: p.wait(timeout=30, resend_after=0.5)],
    ids=["wait_all", "wait"],
)
def test_a_dropped_transaction_whose_nonce_another_took_fails_without_waiting_out_the_timeout(own_anvil, wait):
    w3 = own_anvil("--no-mining")
    signer = _funded_signer(w3, "nonce-taken")
    to = w3.eth.accounts[1]
    dropped = signer.send(to, b"", gas=21_000)
    w3.provider.make_request("anvil_dropTransaction", ["0x" + dropped.tx_hash.hex()])  # type: ignore[arg-type]
    Signer(w3, signer._account).send(to, b"\x01", gas=30_000)  # a second counter: the same nonce, another tx
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(TransactionFailedError, match="another one took its nonce"):
        wait(dropped)
    assert time.monotonic() - started < 10


# --- a base fee that outruns a transaction's fee cap ---------------------------------------------------
def _outrun(w3: Web3, gwei: int = 500) -> None:
    """Mine a block whose base fee is far above every cap signed so far, as a run of full blocks would."""
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(gwei * 10**9)])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "wait",
    [lambda ps: wait_all(ps, timeout=30, resend_after=0.5),
     lambda ps: [p.wait(timeout=30, resend_after=0.5) for p in ps]],
    ids=["wait_all", "wait"],
)
def test_transactions_the_base_fee_outran_are_signed_again_with_higher_fees_and_land(own_anvil, wait):
    w3 = own_anvil("--no-mining")
    signer = _funded_signer(w3, "outrun")
    sent = signer.send_many([(w3.eth.accounts[1], b"", 21_000)] * 3)
    first = [p.tx_hash for p in sent]
    _outrun(w3)  # anvil drops what the block could not take, and refuses those bytes again
    assert w3.eth.get_transaction_count(signer.address) == 0
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    block = w3.eth.block_number
    receipts = wait(sent)
    assert w3.eth.get_transaction_count(signer.address) == 3
    assert all(r.tx_hash != h for r, h in zip(receipts, first, strict=True))
    # Left alone they would wait for the base fee to fall by an eighth a block: some forty blocks.
    assert max(r.block_number for r in receipts) - block <= 6
    for r in receipts:
        assert w3.eth.get_transaction(r.tx_hash)["maxFeePerGas"] >= w3.eth.get_block(r.block_number)["baseFeePerGas"]


def test_a_fixed_fee_cap_is_a_ceiling_never_raised(own_anvil):
    w3 = own_anvil("--no-mining")
    signer = Signer(w3, _funded_signer(w3, "fixed-cap")._account, max_fee=10 * 10**9)
    sent = signer.send(w3.eth.accounts[1], b"", gas=21_000)
    first = sent.tx_hash
    _outrun(w3)
    w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    with pytest.raises(TransactionFailedError, match="not mined in time"):
        sent.wait(timeout=4, resend_after=0.5)
    assert sent.tx_hash == first and w3.eth.get_transaction_count(signer.address) == 0


def test_the_receipt_of_an_earlier_version_settles_a_transaction_signed_again(own_anvil):
    # The node mined the version a wait had replaced (another node's pool still held it): that is our receipt,
    # not a sign that another transaction took the nonce.
    w3 = own_anvil()
    sent = _funded_signer(w3, "earlier").send(w3.eth.accounts[1], b"", gas=21_000)  # mined at once
    mined = sent.tx_hash
    sent.tx_hash, sent._earlier = b"\x01" * 32, [mined]  # as if a later version had been sent since
    assert sent.wait(timeout=10, resend_after=0.5).tx_hash == mined


class _CountingProvider(Web3.HTTPProvider):
    """Counts the JSON-RPC requests sent, batched or not."""

    requests = 0

    def make_request(self, method: Any, params: Any) -> Any:
        self.requests += 1
        return super().make_request(method, params)

    def make_batch_request(self, requests: Any) -> Any:
        self.requests += len(requests)
        return super().make_batch_request(requests)


def test_waiting_asks_little_of_the_node_while_nothing_lands_and_sees_the_block_soon(own_anvil):
    node = own_anvil("--no-mining")
    provider = _CountingProvider(node.provider.endpoint_uri)
    w3 = Web3(provider)
    signers = [_funded_signer(w3, f"quiet-{i}") for i in range(3)]
    to = w3.eth.accounts[1]
    pending = [p for s in signers for p in s.send_many([(to, b"", 21_000)] * 100)]
    done: list[float] = []
    waiter = threading.Thread(target=lambda: (wait_all(pending, timeout=30, resend_after=60),
                                              done.append(time.monotonic())))
    provider.requests = 0
    waiter.start()
    time.sleep(2.0)
    quiet = provider.requests
    node.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    mined = time.monotonic()
    waiter.join(timeout=30)
    assert done, "wait_all did not return"
    # Per look, one request per sender while nothing lands; looks back off to _POLL_MAX apart.
    assert quiet <= 3 * (2.0 / _POLL_MAX + 10), quiet
    assert provider.requests - quiet <= 300 + 3 * 10  # then each receipt once
    assert done[0] - mined < _POLL_MAX + 0.5
