"""The embedded development chain: py-evm (through eth-tester) served as JSON-RPC on 127.0.0.1, or anvil.

Public API (py-evm is imported only when the embedded engine is used)::

    with start_embedded(port=0, state_path=None) as chain:   # -> RunningChain(url, chain_id, accounts, stop())
        ...
    chain = start_anvil(port=0, state_path=None)              # anvil from node_modules, same accounts
    deployment, reused = provision(chain, Path(".civicpass/deployment.json"))  # the registries, once
"""

from __future__ import annotations

from typing import Any

from chain_local.accounts import DEV_MNEMONIC, DevAccount, dev_accounts
from chain_local.anvil import ANVIL_CHAIN_ID, start_anvil
from chain_local.running import RunningChain

__all__ = [
    "ANVIL_CHAIN_ID",
    "DEV_CHAIN_ID",
    "DEV_MNEMONIC",
    "FORK",
    "ChainStateError",
    "DevAccount",
    "EmbeddedChain",
    "RunningChain",
    "dev_accounts",
    "provision",
    "start_anvil",
    "start_embedded",
]

_LAZY = {
    "start_embedded": "chain_local.server",
    "EmbeddedChain": "chain_local.node",
    "DEV_CHAIN_ID": "chain_local.node",
    "FORK": "chain_local.node",
    "ChainStateError": "chain_local.journal",
    "provision": "chain_local.provisioning",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chain_local' has no attribute {name!r}")
