"""Pure helpers over py-evm blocks and receipts: JSON-RPC log objects, log filters, fees.

Kept apart from :mod:`chain_local.node` because none of it touches the chain's lock or database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eth_bloom import BloomFilter
from eth_tester.utils.address import generate_contract_address


def block_logs(blk: Any, receipts: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """The block's logs as JSON-RPC log objects (snake_case); ``logIndex`` counts across the block."""
    log_index = 0
    for index, (tx, receipt) in enumerate(zip(blk.transactions, receipts, strict=True)):
        for log in receipt.logs:
            yield {
                "removed": False,
                "log_index": log_index,
                "transaction_index": index,
                "transaction_hash": tx.hash,
                "block_hash": blk.hash,
                "block_number": blk.number,
                "block_timestamp": blk.header.timestamp,
                "address": log.address,
                "data": log.data,
                "topics": [t.to_bytes(32, "big") for t in log.topics],
            }
            log_index += 1


def effective_gas_price(tx: Any, base_fee: int) -> int:
    if hasattr(tx, "max_fee_per_gas"):
        return int(min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee))
    return int(tx.gas_price)


def created_address(tx: Any) -> bytes | None:
    return None if tx.to else bytes(generate_contract_address(tx.sender, tx.nonce))


def fee_rewards(blk: Any, chaindb: Any, percentiles: Sequence[float]) -> list[int]:
    """Tips at the given gas-weighted percentiles, as geth computes ``eth_feeHistory`` rewards."""
    if not blk.transactions:
        return [0 for _ in percentiles]
    receipts = blk.get_receipts(chaindb)
    used, prior = [], 0
    for receipt in receipts:
        used.append(receipt.gas_used - prior)
        prior = receipt.gas_used
    base = blk.header.base_fee_per_gas
    tips = sorted((effective_gas_price(tx, base) - base, gas) for tx, gas in zip(blk.transactions, used, strict=True))
    out, total = [], sum(used)
    for p in percentiles:
        threshold, acc = total * p / 100, 0
        for tip, gas in tips:
            acc += gas
            if acc >= threshold:
                out.append(tip)
                break
        else:
            out.append(tips[-1][0])
    return out


class LogFilter:
    """An ``eth_getLogs`` filter as bloom masks, so a block is skipped with integer ANDs, no hashing."""

    def __init__(self, addresses: Sequence[bytes], topics: Sequence[Sequence[bytes] | None]) -> None:
        self.groups = [[_mask(a) for a in addresses]] if addresses else []
        self.groups += [[_mask(t) for t in options] for options in topics if options]

    def may_be_in(self, bloom: int) -> bool:
        return bloom != 0 and all(any(bloom & m == m for m in group) for group in self.groups)


def _mask(item: bytes) -> int:
    bloom = BloomFilter()
    bloom.add(item)
    return int(bloom)


def log_matches(log: dict[str, Any], addresses: Sequence[bytes], topics: Sequence[Sequence[bytes] | None]) -> bool:
    if addresses and log["address"] not in addresses:
        return False
    have = log["topics"]
    return all(not options or (i < len(have) and have[i] in options) for i, options in enumerate(topics))
