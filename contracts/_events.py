"""Decoding registry event logs without web3's per-contract event machinery.

The sync reads tens of thousands of logs, so decoding is done straight from the committed ABIs with a small
head/tail decoder for the few ABI types our events use (eth_abi is the fallback, and the judge of anything the
fast path refuses), and checksummed addresses are cached (each checksum costs a keccak). Together that
skips the per-log object building of ``contract.events.X().process_log``, and one decoder serves the logs of
all three contracts.
Logs may come formatted by web3 (HexBytes, ints) or raw from JSON-RPC (hex strings); both are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from contracts._artifacts import CONTRACT_NAMES, load_artifact

__all__ = ["RegistryEvent", "decode_log", "topic_of"]


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One decoded event: which contract and event, its arguments, and where it sits in the chain."""

    contract: str
    name: str
    args: Mapping[str, Any]
    address: str
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class _EventSpec:
    contract: str
    name: str
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


@cache
def _specs() -> Mapping[bytes, _EventSpec]:
    table: dict[bytes, _EventSpec] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract).abi:
            if item["type"] != "event":
                continue
            types = ",".join(i["type"] for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            table[topic] = _EventSpec(
                contract=contract,
                name=item["name"],
                indexed=tuple((i["name"], i["type"]) for i in item["inputs"] if i["indexed"]),
                data_names=tuple(i["name"] for i in item["inputs"] if not i["indexed"]),
                data_types=tuple(i["type"] for i in item["inputs"] if not i["indexed"]),
            )
    return table


def topic_of(contract: str, name: str) -> bytes:
    """topic0 of event ``name`` of ``contract``."""
    for topic, spec in _specs().items():
        if spec.contract == contract and spec.name == name:
            return topic
    raise KeyError(f"{contract}.{name}")


def _raw(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@lru_cache(maxsize=8192)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _norm(typ: str, value: Any) -> Any:
    return _checksum(value) if typ == "address" else value


def _uint_at(data: bytes, offset: int, bits: int = 256) -> int:
    if offset + 32 > len(data):
        raise ValueError("short data")
    value = int.from_bytes(data[offset : offset + 32], "big")
    if value >> bits:
        raise ValueError("integer out of range")
    return value


def _bytes_at(data: bytes, pointer: int) -> bytes:
    length = _uint_at(data, pointer, 32)
    if pointer + 32 + length > len(data):
        raise ValueError("short data")
    return data[pointer + 32 : pointer + 32 + length]


def _fast_decode(types: tuple[str, ...], data: bytes) -> list[Any]:
    """Decode the ABI types our events use; ValueError for anything else or anything malformed."""
    out: list[Any] = []
    for i, typ in enumerate(types):
        head = 32 * i
        if typ.startswith("uint"):
            out.append(_uint_at(data, head, int(typ[4:] or 256)))
        elif typ == "bytes32":
            _uint_at(data, head)
            out.append(data[head : head + 32])
        elif typ == "address":
            out.append("0x" + _uint_at(data, head, 160).to_bytes(20, "big").hex())
        elif typ in ("bytes", "string"):
            raw = _bytes_at(data, _uint_at(data, head, 32))
            out.append(raw if typ == "bytes" else raw.decode("utf-8"))
        elif typ == "string[]":
            base = _uint_at(data, head, 32)
            count = _uint_at(data, base, 16)
            items = data[base + 32 :]
            out.append(tuple(_bytes_at(items, _uint_at(items, 32 * j, 32)).decode("utf-8") for j in range(count)))
        else:
            raise ValueError(f"type {typ} has no fast path")
    return out


def decode_log(log: Mapping[str, Any]) -> RegistryEvent | None:
    """Decode one log of a registry contract; ``None`` for logs this ABI set does not know (or a removed log)."""
    topics = log["topics"]
    if not topics or log.get("removed"):
        return None
    spec = _specs().get(_raw(topics[0]))
    if spec is None or len(topics) != 1 + len(spec.indexed):
        return None
    args: dict[str, Any] = {}
    try:
        for (name, typ), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _norm(typ, _fast_decode((typ,), _raw(topic))[0])
        data = _raw(log["data"])
        try:
            values: Any = _fast_decode(spec.data_types, data)
        except (ValueError, UnicodeDecodeError):
            values = abi_decode(list(spec.data_types), data)
    except (ValueError, DecodingError):
        return None  # not what our ABI says this event looks like: not ours to interpret
    for name, typ, value in zip(spec.data_names, spec.data_types, values, strict=True):
        args[name] = _norm(typ, value)
    return RegistryEvent(
        contract=spec.contract,
        name=spec.name,
        args=args,
        address=_checksum(log["address"] if isinstance(log["address"], str) else "0x" + bytes(log["address"]).hex()),
        block_number=_int(log["blockNumber"]),
        log_index=_int(log["logIndex"]),
    )
