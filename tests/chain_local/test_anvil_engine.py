"""The anvil engine: same accounts, same wire behaviour for the things we rely on, deployment and ``--state``.

Needs node and the npm packages (skipped locally without them, required in CI).
"""

from __future__ import annotations

import httpx
import pytest
from web3 import HTTPProvider, Web3

from chain_local import ANVIL_CHAIN_ID, provision, start_anvil
from tests.chain_local.conftest import deploy_probe

pytestmark = [pytest.mark.chain, pytest.mark.node]


def web3_for(running) -> Web3:
    return Web3(HTTPProvider(running.url, request_kwargs={"timeout": 10}))


def revert_error(url: str, probe, sender: str) -> dict:
    call = {"from": sender, "to": probe.address, "data": probe.encode_abi("store", [0])}
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]}
    return httpx.post(url, json=body, timeout=10).json()["error"]


def test_anvil_and_embedded_agree_on_accounts_and_revert_data(node_modules, chain, w3):
    with start_anvil(0, anvil=node_modules / ".bin" / "anvil") as anvil:
        aw3 = web3_for(anvil)
        assert aw3.eth.chain_id == anvil.chain_id == ANVIL_CHAIN_ID
        assert aw3.eth.accounts == w3.eth.accounts == [a.address for a in anvil.accounts]
        sender = anvil.accounts[0].address
        on_anvil = revert_error(anvil.url, deploy_probe(aw3, sender), sender)
        on_embedded = revert_error(chain.url, deploy_probe(w3, sender), sender)
        assert on_anvil["code"] == on_embedded["code"] == 3
        assert on_anvil["data"] == on_embedded["data"]


def test_anvil_state_and_deployment_survive_a_restart(node_modules, tmp_path):
    binary, state, deployment_path = node_modules / ".bin" / "anvil", tmp_path / "anvil.json", tmp_path / "d.json"
    with start_anvil(0, state, anvil=binary) as first:
        deployment, reused = provision(first, deployment_path)
        assert not reused and deployment.chain_id == ANVIL_CHAIN_ID
        w3 = web3_for(first)
        sent = w3.eth.send_transaction({"from": first.accounts[1].address, "to": first.accounts[2].address, "value": 5})
        w3.eth.wait_for_transaction_receipt(sent, timeout=10)  # anvil mines after answering: the block may lag
        number, balance = w3.eth.block_number, w3.eth.get_balance(first.accounts[2].address)
    assert state.exists()
    with start_anvil(0, state, anvil=binary) as second:
        again, reused = provision(second, deployment_path)
        w3 = web3_for(second)
        assert reused and again.addresses == deployment.addresses and again.rpc_url == second.url
        assert (w3.eth.block_number, w3.eth.get_balance(second.accounts[2].address)) == (number, balance)


def test_anvil_refuses_a_port_where_another_node_already_answers(node_modules):
    import socket

    from credcore.errors import ChainUnavailableError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ChainUnavailableError, match="already in use"):
            start_anvil(port, anvil=node_modules / ".bin" / "anvil")
