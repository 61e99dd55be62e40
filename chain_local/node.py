"""The embedded chain: py-evm (Prague) through eth-tester's backend, auto-mined, safe to share between threads.

eth-tester is built for in-process tests. Serving it to other processes for a day of demo use needs a few
things it does not do, which this module adds around its backend:

- one lock around py-evm (it is not thread-safe), and *group commit*: a transaction is admitted to a pool
  under the lock, then the pool is mined under the lock by whichever request gets there first, so
  concurrent senders share blocks instead of queueing one block each (a JSON-RPC batch of raw
  transactions becomes one block). Every send still returns only after its block is mined, as with
  eth-tester's auto-mining, so a receipt is available as soon as the hash is. Blocks are built in one
  pass (``mine_all``): py-evm's incremental ``apply_transaction`` rebuilds the block's tries per
  transaction, which made a 100-transaction block 30 times slower per transaction;
- transactions are looked up through py-evm's own tx-hash index (eth-tester scans every block, which
  makes receipts and ``eth_getLogs`` slower with every transaction), and ``eth_getLogs`` skips blocks by
  their logs bloom before reading receipts;
- revert data is kept (eth-tester turns it into a message string), so callers can decode custom errors;
- blocks get the wall-clock time when their first transaction arrives (eth-tester stamps the time the
  previous block was mined), and optionally the state is kept in a journal (see :mod:`chain_local.journal`);
- transactions with a future nonce wait in a small per-sender queue, as in a real node's pool, instead
  of being rejected, so clients that sign locally and send concurrently work.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from eth.abc import SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.estimators.gas import binary_gas_search_1000_tolerance
from eth.exceptions import HeaderNotFound, Revert, TransactionNotFound, VMError
from eth.vm.forks import PragueVM
from eth.vm.forks.cancun import get_total_blob_gas
from eth.vm.spoof import SpoofTransaction
from eth_abi import abi
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_keys import keys
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    _get_block_by_number,
    generate_genesis_state_for_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import serialize_block, serialize_transaction
from eth_tester.exceptions import BlockNotFound
from eth_utils import ValidationError as EVMValidationError
from eth_utils import to_checksum_address

from chain_local._chaindata import (
    LogFilter,
    block_logs,
    created_address,
    effective_gas_price,
    fee_rewards,
    log_matches,
)
from chain_local.accounts import DEV_ACCOUNT_COUNT, DEV_BALANCE_WEI, dev_accounts
from chain_local.journal import JournalDB, open_journal

DEV_CHAIN_ID = 1337
FORK = "prague"
GAS_LIMIT = 30_000_000
DEFAULT_TIP_WEI = 10**9
MAX_QUEUED_PER_SENDER = 64
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")

BlockId = str | int  # "latest" | "pending" | "earliest" | "safe" | "finalized" | number


class RpcError(Exception):
    """A JSON-RPC error object; ``data`` is the raw revert data for reverts (code 3, as geth and anvil)."""

    def __init__(self, code: int, message: str, data: bytes | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def _vm_error(err: VMError | None) -> RpcError:
    if isinstance(err, Revert):
        data = bytes(err.args[0]) if err.args and isinstance(err.args[0], bytes | bytearray) else b""
        message = "execution reverted"
        if data[:4] == ERROR_STRING_SELECTOR:  # Error(string): geth appends the reason to the message
            with contextlib.suppress(DecodingError):
                message += ": " + abi.decode(["string"], data[4:])[0]
        return RpcError(3, message, data)
    return RpcError(-32000, str(err) or type(err).__name__)


def _geth_message(text: str) -> str:
    """py-evm's validation text in the words clients match on (geth's core/txpool error strings)."""
    if "cannot afford" in text:
        return "insufficient funds for gas * price + value"
    if "base fee" in text.lower():
        return "max fee per gas less than block base fee"
    return text


class _DevChain(MiningChain):
    vm_configuration = ((0, PragueVM),)
    chain_id = DEV_CHAIN_ID
    # estimates within 1,000 gas (py-evm's default rounds up to 21,000): closer to geth for a few more runs
    gas_estimator = staticmethod(binary_gas_search_1000_tolerance)

    def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
        # a constant gas limit, as eth-tester does: a dev chain has no reason to drift
        return super().create_header_from_parent(parent_header, **{**header_params, "gas_limit": GAS_LIMIT})


class _Backend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's backend over our chain (its constructor would build its own in-memory chain)."""

    def __init__(self, chain: MiningChain, account_keys: tuple[Any, ...]) -> None:
        self.chain = chain
        self.account_keys = account_keys


class _Slot:
    """A transaction waiting to be mined and, after mining, its outcome."""

    __slots__ = ("error", "hash", "tx")

    def __init__(self, tx: SignedTransactionAPI) -> None:
        self.tx, self.hash = tx, bytes(tx.hash)
        self.error: RpcError | None = None


class EmbeddedChain:
    """An auto-mining Prague chain with the dev accounts funded; every public method is thread-safe."""

    def __init__(self, state_path: Path | None = None, *, chain_id: int = DEV_CHAIN_ID) -> None:
        self.chain_id = chain_id
        self.accounts = dev_accounts(DEV_ACCOUNT_COUNT)
        # logs bloom by block number: filled from the database on the first eth_getLogs after a restart
        # with --state (a one-off read of every header), then extended as blocks are mined
        self._blooms: list[int] = []
        meta = {"format": 1, "chain_id": chain_id, "fork": FORK, "py-evm": version("py-evm")}
        self._db = open_journal(state_path, meta)[0] if state_path else JournalDB()
        chain_class = type("DevChain", (_DevChain,), {"chain_id": chain_id})
        base = AtomicDB(self._db)
        if self._db.kv_store:
            self._chain: MiningChain = chain_class(base)
        else:
            genesis = get_default_genesis_params({"gas_limit": GAS_LIMIT})
            keys_ = [keys.PrivateKey(bytes.fromhex(a.private_key[2:])) for a in self.accounts]
            state = generate_genesis_state_for_keys(keys_, {"balance": DEV_BALANCE_WEI})
            self._chain = chain_class.from_genesis(base, genesis, state)
            self._db.commit()
            self._blooms.append(0)  # genesis has no logs; the cache stays warm from here
        self._backend = _Backend(self._chain, ())
        self._keys = {a.address.lower(): a.private_key for a in self.accounts}
        self._lock = threading.RLock()
        self._queued: dict[bytes, dict[int, SignedTransactionAPI]] = {}  # nonce gaps, by sender
        self._pool: list[_Slot] = []  # admitted, in order, not yet mined
        self._next_nonce: dict[bytes, int] = {}  # per sender while the pool is not empty
        self._time_offset = 0
        self._next_timestamp: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -----------------------------------------------------------------------------------
    def send_raw_transactions(self, raws: Sequence[bytes]) -> list[bytes | RpcError]:
        """Admit each raw transaction, then mine; per transaction its hash or the error, once it is mined."""
        with self._lock:
            slots = [self._admit(raw) for raw in raws]
        self.mine_pending()
        return [s if isinstance(s, RpcError) else (s.error or s.hash) for s in slots]

    def send_transaction(self, tx: dict[str, Any]) -> bytes:
        """``eth_sendTransaction`` (``tx`` normalized as for :meth:`call`): fill in, sign with the dev key, send."""
        sender = tx.get("from", b"")
        key = self._keys.get(checksum(sender).lower()) if len(sender) == 20 else None
        if key is None:
            raise RpcError(-32000, "unknown account: eth_sendTransaction signs only for the dev accounts")
        with self._lock:  # nonce choice and admission under one lock: concurrent sends get distinct nonces
            slot = self._admit(bytes(Account.sign_transaction(self._fill(tx), key).raw_transaction))
        self.mine_pending()
        if isinstance(slot, RpcError):
            raise slot
        if slot.error is not None:
            raise slot.error
        return slot.hash

    def mine_pending(self, *, force: bool = False) -> None:
        """Mine the pool (group commit: whoever gets the lock first mines everyone's transactions)."""
        with self._lock:
            pool, self._pool = self._pool, []
            self._next_nonce.clear()
            chunk: list[_Slot] = []
            for slot in pool:  # split so that no block exceeds the gas limit
                if chunk and sum(s.tx.gas for s in chunk) + slot.tx.gas > GAS_LIMIT:
                    self._mine(chunk)
                    chunk = []
                chunk.append(slot)
            if chunk or force:
                self._mine(chunk)

    def increase_time(self, seconds: int) -> int:
        with self._lock:
            self._time_offset += seconds
            return self._time_offset

    def set_next_block_timestamp(self, timestamp: int) -> None:
        with self._lock:
            if timestamp <= self._chain.get_canonical_head().timestamp:
                raise RpcError(-32602, "timestamp must be after the latest block's")
            self._next_timestamp = timestamp

    def _fill(self, tx: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": tx["nonce"] if "nonce" in tx else self._pending_nonce(tx["from"]),
            "value": tx.get("value", 0),
            "data": tx.get("data", b""),
            "gas": tx["gas"] if "gas" in tx else self._estimate_gas_unlocked(tx, "pending"),
        }
        if tx.get("to"):
            out["to"] = checksum(tx["to"])
        if "gas_price" in tx:
            out["gasPrice"] = tx["gas_price"]
        else:
            tip = tx.get("max_priority_fee_per_gas", DEFAULT_TIP_WEI)
            fee_cap = tx.get("max_fee_per_gas", 2 * self._chain.header.base_fee_per_gas + tip)
            out.update(maxPriorityFeePerGas=min(tip, fee_cap), maxFeePerGas=fee_cap)
        return out

    def _pending_nonce(self, sender: bytes) -> int:
        """The next nonce ``sender`` can use: state after the last block plus its transactions in the pool."""
        if sender not in self._next_nonce:
            self._next_nonce[sender] = int(self._chain.get_vm().state.get_nonce(sender))
        return self._next_nonce[sender]

    def _admit(self, raw: bytes) -> _Slot | RpcError:
        try:
            tx = self._chain.get_vm().get_transaction_builder().decode(raw)
            sender = bytes(tx.sender)
        except Exception as exc:  # any decoding or signature failure is the sender's input error
            return RpcError(-32602, f"invalid raw transaction: {exc}")
        if tx.chain_id is not None and tx.chain_id != self.chain_id:
            return RpcError(-32000, f"invalid chain id {tx.chain_id}, this chain is {self.chain_id}")
        if tx.gas > GAS_LIMIT:
            return RpcError(-32000, f"exceeds block gas limit {GAS_LIMIT}")
        expected = self._pending_nonce(sender)
        if tx.nonce < expected:
            return RpcError(-32000, f"nonce too low: next nonce {expected}, tx nonce {tx.nonce}")
        if tx.nonce > expected:  # a gap: wait, as in a node's pool, until the missing nonces arrive
            waiting = self._queued.setdefault(sender, {})
            if len(waiting) >= MAX_QUEUED_PER_SENDER and tx.nonce not in waiting:
                return RpcError(-32000, "too many queued transactions for this sender (nonce gap)")
            waiting[tx.nonce] = tx
            return _Slot(tx)
        slot = _Slot(tx)
        self._pool.append(slot)
        waiting = self._queued.get(sender, {})
        nonce = tx.nonce + 1
        while (nxt := waiting.pop(nonce, None)) is not None:
            self._pool.append(_Slot(nxt))
            nonce += 1
        if not waiting:
            self._queued.pop(sender, None)
        self._next_nonce[sender] = nonce
        return slot

    def _timestamp_for_next_block(self) -> int:
        parent = int(self._chain.get_canonical_head().timestamp)
        wanted = self._next_timestamp or int(time.time()) + self._time_offset
        self._next_timestamp = None
        return max(wanted, parent + 1)

    def _mine(self, slots: list[_Slot]) -> None:
        """One block with ``slots``' transactions, applied in one pass (linear; py-evm's incremental
        ``apply_transaction`` rebuilds the block's tries per transaction, quadratic in block size)."""
        self._chain.set_header_timestamp(self._timestamp_for_next_block())
        try:
            imported = self._chain.mine_all([s.tx for s in slots], mix_hash=secrets.token_bytes(32))[0]
            header = imported.imported_block.header
        except EVMValidationError:
            # some transaction is invalid against the state (balance, fee cap below base fee...):
            # apply one by one to give each sender its own answer, then mine what was valid
            for slot in slots:
                try:
                    self._chain.apply_transaction(slot.tx)
                except EVMValidationError as exc:
                    slot.error = RpcError(-32000, _geth_message(str(exc)))
            applied = self._chain.get_block().transactions
            if not applied:  # all refused: no empty block for nothing
                self._db.commit()
                return
            blob_gas = sum(get_total_blob_gas(tx) for tx in applied)
            header = self._chain.mine_block(mix_hash=secrets.token_bytes(32), blob_gas_used=blob_gas).header
        self._db.commit()
        if len(self._blooms) == header.block_number:  # keep a warm bloom cache warm without reading headers
            self._blooms.append(int(header.bloom))

    # -- reading -----------------------------------------------------------------------------------
    def block_number(self) -> int:
        with self._lock:
            return int(self._chain.get_canonical_head().block_number)

    def account(self, what: str, address: bytes, block: BlockId, slot: int = 0) -> Any:
        """``what`` in balance/nonce/code/storage, at ``block``; raises RpcError for an unknown block."""
        with self._lock:
            if what == "nonce" and block == "pending":
                return self._pending_nonce(address)
            try:
                getter = getattr(self._backend, f"get_{what}")
                return getter(address, slot, block) if what == "storage" else getter(address, block)
            except (BlockNotFound, HeaderNotFound) as exc:
                raise RpcError(-32000, "header not found") from exc

    def base_fee_next(self) -> int:
        with self._lock:
            return int(self._chain.header.base_fee_per_gas)

    def call(self, tx: dict[str, Any], block: BlockId) -> bytes:
        """``eth_call``. ``tx`` is normalized (bytes addresses, int quantities, snake_case keys, as eth-tester).

        Raises RpcError(3, data=revert bytes) on a revert, as geth and anvil do.
        """
        tx = {"from": b"\0" * 20, "gas": GAS_LIMIT, **tx}
        tx.pop("nonce", None)  # as geth: calls and estimates skip the nonce check
        if not any(k in tx for k in ("gas_price", "max_fee_per_gas", "max_priority_fee_per_gas")):
            tx["gas_price"] = 0  # as geth: a call without a fee needs no balance
        with self._lock:
            header = self._header_for(block)
            vm = self._chain.get_vm(at_header=header)
            with vm.in_costless_state() as state:
                unsigned = self._unsigned(tx, state.get_nonce(tx["from"]))
                try:
                    computation = state.apply_transaction(SpoofTransaction(unsigned, from_=tx["from"]))
                except EVMValidationError as exc:
                    raise RpcError(-32000, str(exc)) from exc
            if computation.is_error:
                raise _vm_error(computation.error)
            return bytes(computation.output)

    def estimate_gas(self, tx: dict[str, Any], block: BlockId) -> int:
        with self._lock:
            return self._estimate_gas_unlocked(tx, block)

    def _estimate_gas_unlocked(self, tx: dict[str, Any], block: BlockId) -> int:
        drop = ("nonce", "gas", "gas_price", "max_fee_per_gas", "max_priority_fee_per_gas")
        norm = {"from": b"\0" * 20, **{k: v for k, v in tx.items() if k not in drop}, "gas_price": 0, "gas": 21_000}
        header = self._header_for(block)
        nonce = self._chain.get_vm(at_header=header).state.get_nonce(norm["from"])
        spoof = SpoofTransaction(self._unsigned(norm, nonce), from_=norm["from"])
        try:
            estimate = int(self._chain.estimate_gas(spoof, header))
        except VMError as exc:
            raise _vm_error(exc) from exc
        except EVMValidationError as exc:
            raise RpcError(-32000, str(exc)) from exc
        # EIP-7623 calldata floor, which py-evm's binary search does not apply
        data = norm.get("data", b"")
        tokens = data.count(0) + 4 * (len(data) - data.count(0))
        return max(estimate, 21_000 + 10 * tokens)

    def _header_for(self, block: BlockId) -> Any:
        """The header whose post-state a call at ``block`` runs on (the pending block's for "pending")."""
        if block == "pending":
            return self._chain.header
        try:
            return _get_block_by_number(self._chain, block).header
        except (BlockNotFound, HeaderNotFound) as exc:
            raise RpcError(-32000, "header not found") from exc

    def _unsigned(self, norm: dict[str, Any], nonce: int) -> Any:
        return self._chain.get_vm().create_unsigned_transaction(
            nonce=nonce,
            gas_price=norm["gas_price"] if "gas_price" in norm else norm.get("max_fee_per_gas", 0),
            gas=norm["gas"],
            to=norm.get("to") or b"",
            value=norm.get("value", 0),
            data=norm.get("data", b""),
        )

    def block(self, ref: BlockId | bytes, full: bool) -> dict[str, Any] | None:
        """A block by tag, number or hash, eth-tester-serialized; None if there is none."""
        with self._lock:
            try:
                if isinstance(ref, bytes):
                    blk = self._chain.get_block_by_hash(ref)
                    if self._canonical_hash(blk.number) != blk.hash:
                        return None
                else:
                    blk = _get_block_by_number(self._chain, ref)
            except (BlockNotFound, HeaderNotFound):
                return None
            pending = blk.number == self._chain.header.block_number
            out: dict[str, Any] = serialize_block(blk, full, pending)
            out["extra_data"] = blk.header.extra_data
            out["logs_bloom"] = blk.header.bloom.to_bytes(256, "big")
            return out

    def _canonical_hash(self, number: int) -> bytes | None:
        try:
            return bytes(self._chain.chaindb.get_canonical_block_hash(number))
        except HeaderNotFound:
            return None

    def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        with self._lock:
            found = self._find(tx_hash)
            if found is None:
                return None
            blk, index = found
            return dict(serialize_transaction(blk, blk.transactions[index], index, False))

    def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        with self._lock:
            found = self._find(tx_hash)
            if found is None:
                return None
            blk, index = found
            receipts = blk.get_receipts(self._chain.chaindb)
            tx, receipt = blk.transactions[index], receipts[index]
            prior_gas = receipts[index - 1].gas_used if index else 0
            logs = list(block_logs(blk, receipts))
            out: dict[str, Any] = {
                "transaction_hash": tx.hash,
                "transaction_index": index,
                "block_hash": blk.hash,
                "block_number": blk.number,
                "from": tx.sender,
                "to": tx.to or None,
                "cumulative_gas_used": receipt.gas_used,
                "gas_used": receipt.gas_used - prior_gas,
                "effective_gas_price": effective_gas_price(tx, blk.header.base_fee_per_gas),
                "contract_address": created_address(tx),
                "logs": [log for log in logs if log["transaction_index"] == index],
                "logs_bloom": receipt.bloom.to_bytes(256, "big"),
                "status": 1 if receipt.state_root == b"\x01" else 0,
                "type": getattr(tx, "type_id", None) or 0,
            }
            return out

    def _find(self, tx_hash: bytes) -> tuple[Any, int] | None:
        try:
            number, index = self._chain.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        return self._chain.get_canonical_block_by_number(number), index

    def logs(
        self,
        start: BlockId,
        end: BlockId,
        addresses: Sequence[bytes],
        topics: Sequence[Sequence[bytes] | None],
        block_hash: bytes | None = None,
    ) -> list[dict[str, Any]]:
        wanted = LogFilter(addresses, topics)
        with self._lock:
            if block_hash is not None:
                try:
                    numbers: Iterator[int] = iter([self._chain.get_block_header_by_hash(block_hash).block_number])
                except HeaderNotFound as exc:
                    raise RpcError(-32000, "unknown block") from exc
            else:
                first, last = self._number(start), self._number(end)
                numbers = iter(range(first, last + 1))
            blooms = self._blooms_up_to(self._number("latest"))
            out = []
            for number in numbers:
                if not wanted.may_be_in(blooms[number]):
                    continue
                blk = self._chain.get_canonical_block_by_number(number)
                for log in block_logs(blk, blk.get_receipts(self._chain.chaindb)):
                    if log_matches(log, addresses, topics):
                        out.append(log)
            return out

    def warm_bloom_cache(self, step: int = 256) -> None:
        """Read every header's logs bloom once (after a restart with --state), ``step`` headers per lock
        hold so requests are not held up; meant for a background thread."""
        while True:
            with self._lock:
                head = self._number("latest")
                if len(self._blooms) > head:
                    return
                self._blooms_up_to(min(head, len(self._blooms) + step))

    def _blooms_up_to(self, number: int) -> list[int]:
        """Every canonical block's logs bloom, cached: blocks never change here (no reorgs, no revert)."""
        while len(self._blooms) <= number:
            self._blooms.append(int(self._chain.get_canonical_block_header_by_number(len(self._blooms)).bloom))
        return self._blooms

    def _number(self, ref: BlockId) -> int:
        head = int(self._chain.get_canonical_head().block_number)
        if ref in ("latest", "safe", "finalized", "pending"):
            return head
        if ref == "earliest":
            return 0
        return min(int(ref), head)

    def fee_history(self, count: int, newest: BlockId, percentiles: Sequence[float]) -> dict[str, Any]:
        with self._lock:
            last = self._number(newest)
            first = max(0, last - count + 1)
            base_fees, ratios, rewards = [], [], []
            for number in range(first, last + 1):
                blk = self._chain.get_canonical_block_by_number(number)
                base_fees.append(blk.header.base_fee_per_gas)
                ratios.append(blk.header.gas_used / blk.header.gas_limit)
                if percentiles:
                    rewards.append(fee_rewards(blk, self._chain.chaindb, percentiles))
            base_fees.append(
                self._chain.header.base_fee_per_gas
                if last == self._chain.get_canonical_head().block_number
                else self._chain.get_canonical_block_by_number(last + 1).header.base_fee_per_gas
            )
            out: dict[str, Any] = {"oldest_block": first, "base_fee_per_gas": base_fees, "gas_used_ratio": ratios}
            if percentiles:
                out["reward"] = rewards
            return out


def checksum(address: bytes) -> str:
    return str(to_checksum_address(address))
