"""Shared plumbing of the three registry facades: the web3 contract object, sending and reading logs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from contracts._artifacts import load_artifact
from contracts._events import RegistryEvent, decode_log, topic_of
from contracts._tx import PendingTx, Signer, chain_errors
from contracts.errors import InvalidRegistryArgumentError

__all__ = ["Facade", "as_bytes32"]


def as_bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise InvalidRegistryArgumentError(f"{what} must be 32 bytes")
    return bytes(value)


@cache
def _function(contract: str, fn: str) -> tuple[bytes, tuple[str, ...]]:
    """Selector and argument types of ``fn`` (no overloads in our ABIs): encoding with eth_abi directly skips
    ``Contract.encode_abi``'s per-call ABI lookup and validation, which matters when pipelining hundreds of
    transactions."""
    for item in load_artifact(contract).abi:
        if item["type"] == "function" and item["name"] == fn:
            types = tuple(i["type"] for i in item["inputs"])
            return keccak(text=f"{fn}({','.join(types)})")[:4], types
    raise KeyError(f"{contract}.{fn}")


class Facade:
    """Base of the typed facades: binds a web3 instance, an address and the contract's ABI."""

    contract_name = ""

    def __init__(self, w3: Web3, address: str, *, from_block: int = 0) -> None:
        """``from_block``: where history reads start by default (the deployment block; logs before it are empty)."""
        self._w3 = w3
        self._from_block = from_block
        self.address: ChecksumAddress = to_checksum_address(address)
        self._c: Contract = w3.eth.contract(address=self.address, abi=list(load_artifact(self.contract_name).abi))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    def _encode(self, fn: str, args: Sequence[Any]) -> bytes:
        selector, types = _function(self.contract_name, fn)
        return selector + abi_encode(types, list(args))

    def _send(self, fn: str, args: Sequence[Any], *, sender: Signer, gas: int, preflight: bool) -> PendingTx:
        data = self._encode(fn, args)
        if preflight:
            sender.preflight(self.address, data, gas=gas)
        return sender.send(self.address, data, gas=gas)

    def _events(
        self,
        name: str,
        *,
        topics: Sequence[bytes | None] = (),
        from_block: int | None = None,
        to_block: int | str = "latest",
    ) -> list[RegistryEvent]:
        """This contract's ``name`` events, filtered by indexed ``topics`` (None = any), in chain order."""
        topic_filter: list[Any] = [Web3.to_hex(topic_of(self.contract_name, name))]
        topic_filter += [None if t is None else Web3.to_hex(t.rjust(32, b"\0")) for t in topics]
        params: dict[str, Any] = {
            "address": self.address,
            "fromBlock": self._from_block if from_block is None else from_block,
            "toBlock": to_block,
            "topics": topic_filter,
        }
        with chain_errors():
            logs = self._w3.eth.get_logs(params)  # type: ignore[arg-type]
        return [e for e in (decode_log(log) for log in logs) if e is not None]
