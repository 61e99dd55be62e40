"""The embedded chain over real HTTP JSON-RPC, through web3.py as the services use it, and raw where the
wire format itself is the point (batches, error objects)."""

from __future__ import annotations

import threading

import httpx
import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError

from tests.chain_local.conftest import deploy_probe

pytestmark = pytest.mark.chain

ANVIL_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DENIED_SELECTOR = keccak(text="Denied(address,uint256)")[:4]


def rpc(chain, method, params):
    response = httpx.post(chain.url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params}, timeout=10)
    assert response.status_code == 200
    return response.json()


def signed_transfer(chain, w3, index, nonce=None, *, to=None, value=1, gas=21_000, data=b""):
    acct = Account.from_key(chain.accounts[index].private_key)
    tx = {
        "to": to or chain.accounts[9].address,
        "value": value,
        "gas": gas,
        "data": data,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": w3.eth.get_transaction_count(acct.address, "pending") if nonce is None else nonce,
        "chainId": chain.chain_id,
    }
    return acct.sign_transaction(tx)


def test_identity_fork_and_funded_dev_accounts(chain, w3):
    assert (chain.chain_id, w3.eth.chain_id, w3.net.version) == (1337, 1337, "1337")
    assert chain.fork == "prague"
    assert w3.eth.accounts == [a.address for a in chain.accounts]
    assert w3.eth.accounts[0] == ANVIL_ACCOUNT_0  # the well-known test mnemonic, as anvil
    assert w3.eth.get_balance(chain.accounts[8].address) == 10_000 * 10**18
    genesis = w3.eth.get_block(0)
    assert genesis.number == 0 and "requestsHash" in genesis  # a Prague header


def test_send_transaction_from_dev_account_is_mined_at_once(chain, w3):
    a, b = chain.accounts[1].address, chain.accounts[2].address
    before = w3.eth.get_balance(b)
    tx_hash = w3.eth.send_transaction({"from": a, "to": b, "value": 12345})
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # no waiting: auto-mined before the hash returned
    assert receipt.status == 1 and receipt.gasUsed == 21_000 and receipt.blockNumber == w3.eth.block_number
    assert w3.eth.get_balance(b) == before + 12345
    tx = w3.eth.get_transaction(tx_hash)
    assert (tx["from"], tx["to"], tx["value"], tx["blockHash"]) == (a, b, 12345, receipt.blockHash)


def test_raw_transaction_and_pending_nonce(chain, w3):
    acct = chain.accounts[3].address
    nonce = w3.eth.get_transaction_count(acct, "pending")
    signed = signed_transfer(chain, w3, 3, nonce)
    assert w3.eth.send_raw_transaction(signed.raw_transaction) == signed.hash
    assert w3.eth.get_transaction_receipt(signed.hash).status == 1
    assert w3.eth.get_transaction_count(acct, "latest") == w3.eth.get_transaction_count(acct, "pending") == nonce + 1


def test_contract_deploy_call_events_and_logs(chain, w3, probe):
    sender = chain.accounts[4].address
    assert w3.eth.get_code(probe.address) != b""
    receipt = w3.eth.wait_for_transaction_receipt(probe.functions.store(42).transact({"from": sender}), timeout=10)
    assert probe.functions.value().call() == 42
    (event,) = probe.events.Stored().process_receipt(receipt)
    assert (event.args.by, event.args.value, event.logIndex) == (sender, 42, 0)
    logs = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": probe.address,
            "topics": [keccak(text="Stored(address,uint256)"), "0x" + "00" * 12 + sender[2:].lower()],
        }
    )
    assert [log.transactionHash for log in logs] == [receipt.transactionHash]
    assert w3.eth.get_logs({"blockHash": receipt.blockHash}) == logs
    either = [[keccak(text="Other()"), keccak(text="Stored(address,uint256)")]]
    assert w3.eth.get_logs({"fromBlock": 0, "topics": either}) == logs
    assert w3.eth.get_logs({"fromBlock": 0, "topics": [keccak(text="Other()")]}) == []
    assert w3.eth.get_logs({"fromBlock": 0, "address": chain.accounts[0].address}) == []


def test_custom_error_revert_carries_its_data(chain, w3, probe):
    sender = chain.accounts[4].address
    with pytest.raises(ContractCustomError) as info:
        probe.functions.store(0).call({"from": sender})
    data = bytes.fromhex(info.value.data[2:])
    assert data[:4] == DENIED_SELECTOR
    assert abi_decode(["address", "uint256"], data[4:]) == (sender.lower(), 7)
    # and on the wire, as geth and anvil: code 3, data = the revert bytes
    call = {"from": sender, "to": probe.address, "data": probe.encode_abi("store", [0])}
    for method in ("eth_call", "eth_estimateGas"):
        error = rpc(chain, method, [call, "latest"])["error"]
        assert error["code"] == 3 and error["data"] == "0x" + data.hex(), method


def test_error_string_revert_reason_reaches_the_caller(probe):
    with pytest.raises(ContractLogicError, match="no such thing"):
        probe.functions.fail("no such thing").call()


def test_reverting_transaction_is_mined_with_status_zero(chain, w3, probe):
    signed = signed_transfer(chain, w3, 5, to=probe.address, gas=100_000, value=0, data=probe.encode_abi("store", [0]))
    w3.eth.send_raw_transaction(signed.raw_transaction)
    assert w3.eth.get_transaction_receipt(signed.hash).status == 0


def test_batch_of_raw_transactions_is_mined_as_one_block(chain, w3):
    start = w3.eth.get_transaction_count(chain.accounts[6].address, "pending")
    raws = [signed_transfer(chain, w3, 6, start + i) for i in range(5)]
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + s.raw_transaction.hex()]}
        for i, s in enumerate(raws)
    ]
    batch.append({"jsonrpc": "2.0", "id": "n", "method": "eth_blockNumber", "params": []})
    batch.append({"jsonrpc": "2.0", "id": "x", "method": "no_such_method", "params": []})
    replies = {r["id"]: r for r in httpx.post(chain.url, json=batch, timeout=10).json()}
    assert [replies[i]["result"] for i in range(5)] == ["0x" + s.hash.hex() for s in raws]
    assert replies["x"]["error"]["code"] == -32601
    receipts = [w3.eth.get_transaction_receipt(s.hash) for s in raws]
    assert len({r.blockNumber for r in receipts}) == 1
    assert [r.transactionIndex for r in receipts] == [0, 1, 2, 3, 4]
    assert int(replies["n"]["result"], 16) == receipts[0].blockNumber
    assert len(w3.eth.get_block(receipts[0].blockNumber).transactions) == 5


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc":"2.0","id":1}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xdeadbeef"]}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{"from":"0x' + b"11" * 20 + b'"}]}',
            -32000,
        ),
    ],
)
def test_bad_requests_get_json_rpc_errors(chain, body, code):
    response = httpx.post(chain.url, content=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == code


def test_used_nonce_is_refused(chain, w3):
    signed = signed_transfer(chain, w3, 7)
    w3.eth.send_raw_transaction(signed.raw_transaction)
    error = rpc(chain, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])["error"]
    assert error["code"] == -32000 and "nonce too low" in error["message"]


def test_future_nonce_waits_until_the_gap_is_closed(chain, w3):
    nonce = w3.eth.get_transaction_count(chain.accounts[7].address, "pending")
    first, second = signed_transfer(chain, w3, 7, nonce), signed_transfer(chain, w3, 7, nonce + 1)
    w3.eth.send_raw_transaction(second.raw_transaction)
    assert rpc(chain, "eth_getTransactionReceipt", ["0x" + second.hash.hex()])["result"] is None
    w3.eth.send_raw_transaction(first.raw_transaction)
    assert w3.eth.get_transaction_receipt(second.hash).status == 1


def test_concurrent_senders_all_land(chain, w3):
    before = w3.eth.block_number
    errors: list[BaseException] = []

    def send(index):
        try:
            for _ in range(3):
                w3.eth.send_transaction({"from": chain.accounts[index].address, "to": chain.accounts[9].address})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    mined = sum(len(w3.eth.get_block(n).transactions) for n in range(before + 1, w3.eth.block_number + 1))
    assert mined == 12


def test_blocks_fees_and_unknowns(chain, w3):
    latest = w3.eth.get_block("latest")
    assert w3.eth.get_block(latest.hash).number == latest.number
    assert latest.timestamp > w3.eth.get_block(0).timestamp
    assert rpc(chain, "eth_getBlockByNumber", [hex(latest.number + 5), False])["result"] is None
    assert rpc(chain, "eth_getTransactionReceipt", ["0x" + "ab" * 32])["result"] is None
    assert rpc(chain, "eth_getBalance", [ANVIL_ACCOUNT_0, hex(latest.number + 5)])["error"]["code"] == -32000
    history = w3.eth.fee_history(4, "latest", [50])
    assert history.oldestBlock == latest.number - 3 and len(history.baseFeePerGas) == 5
    assert w3.eth.gas_price >= latest.baseFeePerGas and w3.eth.max_priority_fee > 0


def test_gas_estimate_covers_the_calldata_floor(chain, w3):
    data = bytes(range(1, 256)) * 40  # 10 kB of non-zero calldata: the EIP-7623 floor dominates
    tx = {"from": chain.accounts[8].address, "to": chain.accounts[9].address, "data": data}
    gas = w3.eth.estimate_gas(tx)
    assert gas >= 21_000 + 10 * 4 * len(data)
    assert w3.eth.get_transaction_receipt(w3.eth.send_transaction({**tx, "gas": gas})).status == 1


def test_second_probe_gets_a_fresh_address(chain, w3, probe):
    other = deploy_probe(w3, chain.accounts[0].address)
    assert other.address != probe.address and other.functions.value().call() == 0


def test_dev_account_signing_and_time_controls(chain, w3):
    from eth_account.messages import encode_defunct

    signature = rpc(chain, "personal_sign", ["0xc0ffee", chain.accounts[2].address])["result"]
    signer = Account.recover_message(encode_defunct(primitive=b"\xc0\xff\xee"), signature=signature)
    assert signer == chain.accounts[2].address
    target = w3.eth.get_block("latest").timestamp + 86_400
    assert "error" not in rpc(chain, "evm_setNextBlockTimestamp", [hex(target)])
    rpc(chain, "evm_mine", [])
    assert w3.eth.get_block("latest").timestamp == target
    assert rpc(chain, "evm_setNextBlockTimestamp", [hex(target)])["error"]["code"] == -32602  # not after the head


def test_unfunded_sender_is_refused_without_hurting_its_batch(chain, w3):
    pauper = Account.from_key("0x" + "42" * 32)
    tx = {"to": chain.accounts[9].address, "value": 1, "gas": 21_000, "maxFeePerGas": 10**10}
    broke = pauper.sign_transaction({**tx, "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": chain.chain_id})
    fine = signed_transfer(chain, w3, 8)
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + s.raw_transaction.hex()]}
        for i, s in enumerate((broke, fine))
    ]
    replies = sorted(httpx.post(chain.url, json=batch, timeout=10).json(), key=lambda r: r["id"])
    assert replies[0]["error"] == {"code": -32000, "message": "insufficient funds for gas * price + value"}
    assert replies[1]["result"] == "0x" + fine.hash.hex()
    assert w3.eth.get_transaction_receipt(fine.hash).status == 1
    assert rpc(chain, "eth_getTransactionReceipt", ["0x" + broke.hash.hex()])["result"] is None
