"""``--state``: the chain continues across restarts, survives a torn write, and refuses foreign files."""

from __future__ import annotations

import pytest
from web3 import HTTPProvider, Web3

from chain_local import ChainStateError, start_embedded
from chain_local.journal import MAGIC, open_journal
from tests.chain_local.conftest import deploy_probe

pytestmark = pytest.mark.chain


def web3_for(running) -> Web3:
    return Web3(HTTPProvider(running.url, request_kwargs={"timeout": 10}))


def snapshot(w3: Web3, probe_address: str, accounts) -> dict:
    head = w3.eth.get_block("latest")
    return {
        "number": head.number,
        "hash": head.hash,
        "balances": [w3.eth.get_balance(a.address) for a in accounts[:3]],
        "code": w3.eth.get_code(probe_address),
        "logs": w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": probe_address}),
    }


def test_restart_continues_the_same_chain(tmp_path):
    state = tmp_path / "chain.journal"
    with start_embedded(0, state) as first:
        w3 = web3_for(first)
        a = first.accounts
        transfer = w3.eth.send_transaction({"from": a[1].address, "to": a[2].address, "value": 777})
        probe = deploy_probe(w3, a[0].address)
        stored = w3.eth.wait_for_transaction_receipt(probe.functions.store(9).transact({"from": a[1].address}))
        before = snapshot(w3, probe.address, a)
    with start_embedded(0, state) as second:
        w3 = web3_for(second)
        assert snapshot(w3, probe.address, second.accounts) == before
        assert w3.eth.get_transaction_receipt(transfer).status == 1
        assert w3.eth.get_transaction_receipt(stored.transactionHash).blockHash == stored.blockHash
        again = w3.eth.contract(address=probe.address, abi=probe.abi)
        assert again.functions.value().call() == 9
        # and it goes on from there: new blocks on top, nonces continue
        w3.eth.send_transaction({"from": a[1].address, "to": a[2].address, "value": 1})
        assert w3.eth.block_number == before["number"] + 1
        assert w3.eth.get_block("latest").parentHash == before["hash"]


def test_without_state_every_start_is_a_fresh_chain(tmp_path):
    with start_embedded(0) as running:
        w3 = web3_for(running)
        w3.eth.send_transaction({"from": running.accounts[1].address, "to": running.accounts[2].address})
    with start_embedded(0) as running:
        assert web3_for(running).eth.block_number == 0


def test_torn_tail_is_dropped_and_the_chain_keeps_its_complete_blocks(tmp_path):
    state = tmp_path / "chain.journal"
    with start_embedded(0, state) as running:
        w3 = web3_for(running)
        w3.eth.send_transaction({"from": running.accounts[1].address, "to": running.accounts[2].address})
        number, head = w3.eth.block_number, w3.eth.get_block("latest").hash
    with state.open("ab") as f:
        f.write(b"\x00\x00\x10\x00garbage of a write the process never finished")
    for _ in range(2):  # twice: the second start proves the first one left a clean file to append to
        with start_embedded(0, state) as running:
            w3 = web3_for(running)
            assert (w3.eth.block_number, w3.eth.get_block(number).hash) == (number, head)
            w3.eth.send_transaction({"from": running.accounts[1].address, "to": running.accounts[2].address})
            number, head = w3.eth.block_number, w3.eth.get_block("latest").hash


def test_foreign_file_is_refused(tmp_path):
    stranger = tmp_path / "notes.txt"
    stranger.write_text("my shopping list\n")
    with pytest.raises(ChainStateError) as info:
        start_embedded(0, stranger)
    assert info.value.code == "chain_state_invalid"
    assert stranger.read_text() == "my shopping list\n"  # never overwritten


def test_journal_of_another_configuration_is_refused(tmp_path):
    path = tmp_path / "chain.journal"
    db, existed = open_journal(path, {"chain_id": 1})
    db[b"k"] = b"v"
    db.close()
    assert not existed
    with pytest.raises(ChainStateError):
        open_journal(path, {"chain_id": 2})


def test_journal_compacts_rewritten_keys(tmp_path):
    path = tmp_path / "chain.journal"
    db, _ = open_journal(path, {"chain_id": 1})
    for i in range(200):
        db[b"head"] = i.to_bytes(32, "big")
        db[b"node-%d" % i] = b"x" * 10
        db.commit()
    del db[b"node-0"]
    db.close()
    size = path.stat().st_size
    db, existed = open_journal(path, {"chain_id": 1})
    assert existed and db.kv_store[b"head"] == (199).to_bytes(32, "big") and b"node-0" not in db.kv_store
    assert len(db.kv_store) == 200
    db.close()
    assert path.stat().st_size < size / 2 and path.read_bytes().startswith(MAGIC)
