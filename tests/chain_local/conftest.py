"""Fixtures for the dev-chain tests: a running embedded chain, web3 over HTTP, and a tiny probe contract.

The probe is compiled once (solc 0.8.37, evmVersion prague, optimizer 200, bytecodeHash none) from the
source below, so these tests need no compiler; it exercises storage, an indexed event, a custom error
and an ``Error(string)`` revert, the four things the registries rely on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

PROBE_SOURCE = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract Probe {
    error Denied(address who, uint256 code);
    event Stored(address indexed by, uint256 value);

    uint256 public value;

    function store(uint256 v) external {
        if (v == 0) revert Denied(msg.sender, 7);
        value = v;
        emit Stored(msg.sender, v);
    }

    function fail(string calldata reason) external pure {
        revert(reason);
    }
}
"""
PROBE_ABI = [
    {
        "inputs": [
            {"internalType": "address", "name": "who", "type": "address"},
            {"internalType": "uint256", "name": "code", "type": "uint256"},
        ],
        "name": "Denied",
        "type": "error",
    },
    {
        "anonymous": False,
        "inputs": [
            {"indexed": True, "internalType": "address", "name": "by", "type": "address"},
            {"indexed": False, "internalType": "uint256", "name": "value", "type": "uint256"},
        ],
        "name": "Stored",
        "type": "event",
    },
    {
        "inputs": [{"internalType": "string", "name": "reason", "type": "string"}],
        "name": "fail",
        "outputs": [],
        "stateMutability": "pure",
        "type": "function",
    },
    {
        "inputs": [{"internalType": "uint256", "name": "v", "type": "uint256"}],
        "name": "store",
        "outputs": [],
        "stateMutability": "nonpayable",
        "type": "function",
    },
    {
        "inputs": [],
        "name": "value",
        "outputs": [{"internalType": "uint256", "name": "", "type": "uint256"}],
        "stateMutability": "view",
        "type": "function",
    },
]
PROBE_BYTECODE = "0x" + (
    "6080604052348015600e575f5ffd5b506101cb8061001c5f395ff3fe608060405234801561000f575f5ffd5b506004361061"
    "003f575f3560e01c80633fa4f245146100435780636057361d1461005d57806378122f3a14610072575b5f5ffd5b61004b5f"
    "5481565b60405190815260200160405180910390f35b61007061006b36600461010b565b610085565b005b61007061008036"
    "6004610122565b6100ef565b805f036100b3576040516315dede1360e11b8152336004820152600760248201526044015b60"
    "405180910390fd5b5f81905560405181815233907febfcf7c0a1b09f6499e519a8d8bb85ce33cd539ec6cbd964e116cd7494"
    "3ead1a9060200160405180910390a250565b818160405162461bcd60e51b81526004016100aa929190610190565b5f602082"
    "8403121561011b575f5ffd5b5035919050565b5f5f60208385031215610133575f5ffd5b823567ffffffffffffffff811115"
    "610149575f5ffd5b8301601f81018513610159575f5ffd5b803567ffffffffffffffff81111561016f575f5ffd5b85602082"
    "8401011115610180575f5ffd5b6020919091019590945092505050565b60208152816020820152818360408301375f818301"
    "604090810191909152601f909201601f1916010191905056fea164736f6c6343000825000a"
)


@pytest.fixture(scope="module")
def chain() -> Iterator[object]:
    from chain_local import start_embedded

    running = start_embedded(port=0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def w3(chain):
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(chain.url, request_kwargs={"timeout": 10}))


def deploy_probe(w3, sender: str):
    """Deploy the probe from a dev account (node-side signing) and return the web3 contract."""
    factory = w3.eth.contract(abi=PROBE_ABI, bytecode=PROBE_BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}), timeout=10)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=PROBE_ABI)


@pytest.fixture(scope="module")
def probe(w3, chain):
    return deploy_probe(w3, chain.accounts[0].address)
