"""Sending transactions: local signing, a nonce counter per account, explicit gas, decoded failures.

Why not ``contract.functions.x().transact()``: that asks the node to sign (only dev nodes hold keys), estimates
gas (py-evm under-estimates calldata-heavy transactions) and fetches the nonce per transaction, which forces one
transaction at a time. A :class:`Signer` signs with eth-account (natively through coincurve), counts nonces
itself and returns a :class:`PendingTx` at once, so callers can pipeline many transactions and wait later;
:meth:`PendingTx.wait` and :func:`wait_all` send again whatever the node drops from its pool meanwhile, signed
again with higher fees where the base fee has risen past a transaction's fee cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from contracts.errors import TransactionFailedError, decode_revert, revert_data_of
from credcore.errors import ChainUnavailableError, CredError

__all__ = ["PendingTx", "Receipt", "Signer", "call_view", "chain_errors", "wait_all"]

_T = TypeVar("_T")
_BATCH = 100  # requests per JSON-RPC batch
_RESEND_AFTER = 2.0  # seconds without a new receipt before a wait asks the node whether it still holds the rest
_POLL_MAX = 0.25  # the longest pause between two looks: pauses double while nothing lands


@contextmanager
def chain_errors() -> Iterator[None]:
    """Translate connection failures into :class:`ChainUnavailableError` (retryable)."""
    try:
        yield
    except CredError:
        raise
    except (ProviderConnectionError, ConnectionError, TimeoutError, OSError) as exc:
        raise ChainUnavailableError("cannot reach the chain's JSON-RPC endpoint") from exc
    except Exception as exc:
        # requests/aiohttp connection errors do not share a base class with the builtins above
        if type(exc).__name__ in {"ConnectionError", "ConnectTimeout", "ReadTimeout", "ClientConnectorError"}:
            raise ChainUnavailableError("cannot reach the chain's JSON-RPC endpoint") from exc
        raise


def call_view(fn: Callable[[], _T]) -> _T:
    """Run a contract view call; reverts become credcore errors, connection failures ChainUnavailableError."""
    with chain_errors():
        try:
            return fn()
        except ContractLogicError as exc:
            raise decode_revert(revert_data_of(exc)) from None
        except Exception as exc:
            if type(exc).__name__ == "TransactionFailed":  # in-process eth-tester
                raise decode_revert(revert_data_of(exc)) from None
            raise


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a mined transaction left behind."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    contract_address: ChecksumAddress | None


class PendingTx:
    """A sent transaction. :meth:`wait` returns its receipt or raises the decoded revert."""

    __slots__ = ("_call", "_earlier", "_error", "_nonce", "_raw", "_receipt", "_signer", "_tx", "_w3", "tx_hash")

    def __init__(
        self, w3: Web3, tx_hash: bytes, call: dict[str, Any], *, raw: bytes | None = None, nonce: int | None = None,
        signer: Signer | None = None, tx: dict[str, Any] | None = None,
    ) -> None:
        self._w3 = w3
        self.tx_hash = tx_hash  # the version sent last, until a receipt names the one mined
        self._call = call  # to replay a failed transaction as eth_call and recover its revert data
        self._raw = raw  # the signed bytes, to send again if the node drops the transaction from its pool
        self._nonce = nonce
        self._signer = signer  # with the fields signed (tx), to sign it again with higher fees (see _reprice)
        self._tx = tx
        self._earlier: list[bytes] = []  # hashes of the versions it replaced: any one of them may be mined
        self._receipt: Receipt | None = None
        self._error: CredError | None = None

    def _settle(self, status: int, block_number: int, gas_used: int, contract_address: str | None) -> None:
        if status != 1:
            self._error = self._failure(block_number, gas_used)
            return
        address = Web3.to_checksum_address(contract_address) if contract_address else None
        self._receipt = Receipt(self.tx_hash, block_number, gas_used, address)

    def wait(self, timeout: float = 30.0, poll: float = 0.01, *, resend_after: float = _RESEND_AFTER) -> Receipt:
        """Wait for the receipt as :func:`wait_all` does, sending the transaction again if the node drops it."""
        if self._receipt is None and self._error is None and _wait([self], timeout, poll, resend_after):
            raise TransactionFailedError("transaction not mined in time", tx="0x" + self.tx_hash.hex())
        if self._error is not None:
            raise self._error
        assert self._receipt is not None
        return self._receipt

    def _wait_alone(self, deadline: float, poll: float) -> bool:
        """Poll this receipt by itself (a provider without batches: in-process eth-tester); False at the deadline."""
        pause = poll
        with chain_errors():
            while True:
                try:
                    raw = self._w3.eth.get_transaction_receipt(self.tx_hash)  # type: ignore[arg-type]
                    break
                except (TransactionNotFound, TimeExhausted):
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(pause)
                    pause = min(2 * pause, _POLL_MAX)
        self._settle(int(raw["status"]), int(raw["blockNumber"]), int(raw["gasUsed"]), raw.get("contractAddress"))
        return True

    def _failure(self, block_number: int, gas_used: int) -> CredError:
        if gas_used >= int(self._call["gas"]):
            return TransactionFailedError("transaction ran out of gas", tx="0x" + self.tx_hash.hex())
        # Replay against the state before the block: the revert data is not in the receipt.
        try:
            with chain_errors():
                self._w3.eth.call(self._call, max(0, block_number - 1))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return decode_revert(revert_data_of(exc))
        except CredError as exc:
            return exc
        except Exception as exc:
            if type(exc).__name__ == "TransactionFailed":
                return decode_revert(revert_data_of(exc))
            raise
        return TransactionFailedError("transaction reverted (not reproducible)", tx="0x" + self.tx_hash.hex())


def _batch(w3: Web3, requests: list[tuple[str, list[Any]]]) -> list[dict[str, Any]] | None:
    """One JSON-RPC batch (one HTTP round trip for many calls), or None if the provider cannot batch."""
    make = getattr(w3.provider, "make_batch_request", None)
    if make is None or not requests:
        return None
    try:
        with chain_errors():
            responses = make(requests)
    except NotImplementedError:
        return None
    if not isinstance(responses, list) or len(responses) != len(requests):
        raise TransactionFailedError("the node refused a JSON-RPC batch")
    return responses


def _send_raw(w3: Web3, raws: Sequence[bytes]) -> list[dict[str, Any]] | None:
    """``eth_sendRawTransaction`` for each of ``raws``, in order and in JSON-RPC batches: the node's answers, or
    None if the provider cannot batch."""
    answers: list[dict[str, Any]] = []
    for start in range(0, len(raws), _BATCH):
        responses = _batch(w3, [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws[start : start + _BATCH]])
        if responses is None:
            return None
        answers += responses
    return answers


def _fetch_receipts(pending: Sequence[PendingTx]) -> bool:
    """Settle those of ``pending`` that have a receipt, for whichever of their versions was mined; False if the
    provider cannot batch."""
    asks = [(p, h) for p in pending for h in (p.tx_hash, *p._earlier)]
    for start in range(0, len(asks), _BATCH):
        chunk = asks[start : start + _BATCH]
        responses = _batch(chunk[0][0]._w3, [("eth_getTransactionReceipt", ["0x" + h.hex()]) for _, h in chunk])
        if responses is None:
            return False
        for (p, tx_hash), response in zip(chunk, responses, strict=True):
            raw = response.get("result")
            if raw is not None and p._receipt is None and p._error is None:
                p.tx_hash = tx_hash
                p._settle(int(raw["status"], 16), int(raw["blockNumber"], 16), int(raw["gasUsed"], 16),
                          raw.get("contractAddress"))
    return True


def _look(waiting: Sequence[PendingTx]) -> list[PendingTx] | None:
    """Settle those of ``waiting`` that have landed; None if the provider cannot batch.

    A sender's transactions land in nonce order, so the node's count of the sender's mined transactions says which
    have landed: one request per sender per look, and each receipt is fetched once, after it lands (asking every
    waiting receipt each time loads the node with thousands of requests a look). Returns those whose nonce is
    used but which have no receipt: another transaction may have taken their nonce.
    """
    w3 = waiting[0]._w3
    senders = sorted({p._call["from"] for p in waiting if p._nonce is not None})
    used: dict[str, int] = {}
    for start in range(0, len(senders), _BATCH):
        chunk = senders[start : start + _BATCH]
        responses = _batch(w3, [("eth_getTransactionCount", [s, "latest"]) for s in chunk])
        if responses is None:
            return None
        used |= {s: int(r["result"], 16) for s, r in zip(chunk, responses, strict=True)
                 if isinstance(r.get("result"), str)}

    def counted(p: PendingTx) -> bool:
        return p._nonce is not None and p._call["from"] in used

    landed = [p for p in waiting if not counted(p) or (p._nonce or 0) < used[p._call["from"]]]
    if not _fetch_receipts(landed):
        return None
    return [p for p in landed if counted(p) and p._receipt is None and p._error is None]


def _forgotten(w3: Web3, txs: Sequence[PendingTx]) -> list[PendingTx] | None:
    """Those of ``txs`` the node neither mined nor pools; None if the provider cannot batch."""
    out: list[PendingTx] = []
    for start in range(0, len(txs), _BATCH):
        chunk = txs[start : start + _BATCH]
        responses = _batch(w3, [("eth_getTransactionByHash", ["0x" + p.tx_hash.hex()]) for p in chunk])
        if responses is None:
            return None
        out += [p for p, r in zip(chunk, responses, strict=True) if "error" not in r and r.get("result") is None]
    return out


def _resend_forgotten(waiting: Sequence[PendingTx]) -> None:
    """Send again the signed bytes of the transactions the node no longer knows (neither mined nor pooled).

    Nodes drop pooled transactions. anvil, filling a block, skips a transaction that does not fit, then tries the
    same sender's later, smaller ones: they fail its nonce check, and it removes them from the pool with every
    transaction after them. geth evicts when its pool is full; a restart empties any pool. The same signed bytes
    can be mined once only (one nonce), so sending them again is safe. One the node refuses while its sender's
    nonce has moved past it will never be mined (another transaction took the nonce), so it fails now.

    The node is asked first about each sender's lowest waiting nonce, and about the others only where that one is
    forgotten: a gap stalls everything after it, so it shows at the lowest nonce once the ones before it land.
    """
    w3 = waiting[0]._w3
    by_sender: dict[str, list[PendingTx]] = {}
    for p in sorted((p for p in waiting if p._raw is not None and p._nonce is not None), key=lambda p: p._nonce or 0):
        by_sender.setdefault(p._call["from"], []).append(p)
    lowest = _forgotten(w3, [txs[0] for txs in by_sender.values()])
    rest = _forgotten(w3, [p for first in lowest or [] for p in by_sender[first._call["from"]][1:]])
    if lowest is None or rest is None:
        return
    forgotten = lowest + rest
    forgotten.sort(key=lambda p: (p._call["from"], p._nonce or 0))  # in nonce order: none waits on a gap
    answers = _send_raw(w3, [p._raw or b"" for p in forgotten])
    if answers is None:
        return
    refused = [(p, r["error"]) for p, r in zip(forgotten, answers, strict=True) if "error" in r]
    if not refused or not _fetch_receipts([p for p, _ in refused]):
        return
    nonces: dict[str, int] = {}
    for p, error in refused:
        if p._receipt is not None or p._error is not None:
            continue  # mined meanwhile: the refusal was about its own nonce
        sender = p._call["from"]
        if sender not in nonces:
            with chain_errors():
                nonces[sender] = int(w3.eth.get_transaction_count(sender, "latest"))
        if nonces[sender] > (p._nonce or 0):
            said = error.get("message", "") if isinstance(error, dict) else error
            p._error = TransactionFailedError("the node dropped the transaction and another one took its nonce",
                                              tx="0x" + p.tx_hash.hex(), node_said=str(said)[:200])


def _reprice(waiting: Sequence[PendingTx]) -> None:
    """Sign again, with higher fees, those of ``waiting`` whose fee cap is below what the next block may charge.

    Under EIP-1559 the base fee rises by up to an eighth a block while blocks are full, so a cap of twice the base
    fee at signing is overtaken after a few full blocks: geth keeps such a transaction pooled but never mines it
    while the base fee stays above its cap, anvil drops it and refuses the same bytes again. The same nonce is
    signed again with a cap of twice the coming base fee plus the tip, both raised by more than the tenth a pool
    asks of a replacement. Only a signer with automatic fees does this: a fixed ``max_fee`` is a ceiling.
    """
    mine = sorted((p for p in waiting if p._signer is not None and p._signer.reprices and p._tx is not None),
                  key=lambda p: (p._call["from"], p._nonce or 0))
    if not mine:
        return
    w3 = mine[0]._w3
    with chain_errors():
        base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    coming = base + (base + 7) // 8  # the most the next block's base fee can be
    signed = [(p, *p._signer._repriced(p._tx, coming)) for p in mine
              if p._signer is not None and p._tx is not None and int(p._tx["maxFeePerGas"]) < coming]
    answers = _send_raw(w3, [raw for _, _, raw in signed])
    if answers is None:
        return
    for (p, tx, raw), answer in zip(signed, answers, strict=True):
        if not isinstance(answer.get("result"), str):
            continue  # refused: mined meanwhile (the receipts tell), or the node wants more (the next stall)
        p._earlier.append(p.tx_hash)
        p.tx_hash, p._tx, p._raw = bytes.fromhex(answer["result"][2:]), tx, raw


def _wait(pending: Sequence[PendingTx], timeout: float, poll: float, resend_after: float) -> list[PendingTx]:
    """Wait until each of ``pending`` has its receipt or its error; returns those still waiting at the deadline.

    Looks (see :func:`_look`) come ``poll`` seconds apart at first, twice as far apart after each look that finds
    nothing new, up to ``_POLL_MAX``, and ``poll`` apart again after one that does. When a sender's lowest waiting
    nonce has not landed for ``resend_after`` seconds, or a transaction's nonce is used without its receipt, the
    sender's transactions whose fee cap the base fee has passed are signed again with higher fees (see
    :func:`_reprice`) and those the node has dropped from its pool are sent again (see :func:`_resend_forgotten`).
    """
    deadline = time.monotonic() + timeout
    waiting = [p for p in pending if p._receipt is None and p._error is None]
    lowest: dict[str, tuple[int, float]] = {}  # per sender: its lowest waiting nonce, and since when
    pause = poll
    while waiting:
        suspects = _look(waiting)
        if suspects is None:  # no batching (in-process eth-tester): one by one
            return [p for p in waiting if not p._wait_alone(deadline, poll)]
        left = [p for p in waiting if p._receipt is None and p._error is None]
        now = time.monotonic()
        if len(left) < len(waiting):
            pause = poll
        check = {p._call["from"] for p in suspects}
        first: dict[str, int] = {}
        for p in left:
            if p._nonce is not None:
                first[p._call["from"]] = min(first.get(p._call["from"], p._nonce), p._nonce)
        for sender, nonce in first.items():
            seen = lowest.get(sender)
            if seen is not None and seen[0] == nonce and now - seen[1] < resend_after:
                continue
            if seen is not None and seen[0] == nonce:
                check.add(sender)  # stalled; looked at once per spell: the node gets time to mine what was sent
            lowest[sender] = (nonce, now)
        if check:
            stalled = [p for p in left if p._call["from"] in check]
            _reprice(stalled)
            _resend_forgotten(stalled)
        waiting = [p for p in left if p._error is None]
        if waiting:
            if now > deadline:
                return waiting
            time.sleep(pause)
            pause = min(2 * pause, _POLL_MAX)
    return []


def wait_all(
    pending: Sequence[PendingTx], timeout: float = 60.0, poll: float = 0.01, *, resend_after: float = _RESEND_AFTER
) -> list[Receipt]:
    """Wait for every transaction (see :func:`_wait`); receipts are fetched in JSON-RPC batches. The first failure
    (in order) raises; the ``timeout`` bounds the whole wait, re-sending included."""
    if pending and (late := _wait(pending, timeout, poll, resend_after)):
        raise TransactionFailedError("transactions not mined in time", waiting=len(late))
    return [p.wait() for p in pending]


class Signer:
    """One account that signs locally and numbers its own transactions.

    Thread-safe. Assumes it is the only sender for its account; after a rejected send it re-reads the nonce
    from the node. Fees: EIP-1559 with ``max_fee = 2 * base fee + priority fee`` (base fee re-read each second),
    raised while a wait finds the base fee past it (:func:`_reprice`); or a fixed ``max_fee``, never raised.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | str | bytes,
        *,
        priority_fee: int = 10**9,
        max_fee: int | None = None,
    ) -> None:
        self._w3 = w3
        self._account: LocalAccount = account if isinstance(account, LocalAccount) else Account.from_key(account)
        self._priority_fee = priority_fee
        self._fixed_max_fee = max_fee
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._fee: tuple[float, int] = (0.0, 0)

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def reset_nonce(self) -> None:
        with self._lock:
            self._nonce = None

    @property
    def reprices(self) -> bool:
        """Whether a waiting transaction's fees may be raised (automatic fees, not a fixed ``max_fee``)."""
        return self._fixed_max_fee is None

    def _repriced(self, tx: dict[str, Any], coming_base_fee: int) -> tuple[dict[str, Any], bytes]:
        """``tx`` with fees for a block at ``coming_base_fee``, each over an eighth above the last, signed."""
        tip = max(self._priority_fee, int(tx["maxPriorityFeePerGas"]) * 9 // 8 + 1)
        cap = max(2 * coming_base_fee + tip, int(tx["maxFeePerGas"]) * 9 // 8 + 1)
        again = {**tx, "maxFeePerGas": cap, "maxPriorityFeePerGas": tip}
        return again, bytes(self._account.sign_transaction(again).raw_transaction)

    def _max_fee(self) -> int:
        if self._fixed_max_fee is not None:
            return self._fixed_max_fee
        fetched, fee = self._fee
        if time.monotonic() - fetched > 1.0:
            base = int(self._w3.eth.get_block("latest").get("baseFeePerGas") or 0)
            fee = 2 * base + self._priority_fee
            self._fee = (time.monotonic(), fee)
        return fee

    def send(self, to: str | None, data: bytes, *, gas: int, value: int = 0) -> PendingTx:
        """Sign and send; returns without waiting for the receipt. ``to=None`` deploys ``data``."""
        return self.send_many([(to, data, gas)], value=value)[0]

    def send_many(self, calls: Sequence[tuple[str | None, bytes, int]], *, value: int = 0) -> list[PendingTx]:
        """Sign ``(to, data, gas)`` calls with consecutive nonces and send them in JSON-RPC batches.

        If the node rejects one, the nonce is re-read and TransactionFailedError says how many were accepted
        before it (those are on their way; the rest were not sent).
        """
        with chain_errors(), self._lock:
            if self._chain_id is None:
                self._chain_id = int(self._w3.eth.chain_id)
            if self._nonce is None:
                self._nonce = int(self._w3.eth.get_transaction_count(self.address, "pending"))
            max_fee = self._max_fee()
            signed: list[tuple[bytes, dict[str, Any], dict[str, Any]]] = []
            for i, (to, data, gas) in enumerate(calls):
                tx: dict[str, Any] = {
                    "type": 2,
                    "chainId": self._chain_id,
                    "nonce": self._nonce + i,
                    "gas": gas,
                    "maxFeePerGas": max_fee,
                    "maxPriorityFeePerGas": self._priority_fee,
                    "value": value,
                    "data": data,
                }
                call = {"from": self.address, "data": data, "gas": gas, "value": value}
                if to is not None:
                    tx["to"] = call["to"] = to
                signed.append((bytes(self._account.sign_transaction(tx).raw_transaction), call, tx))
            pending: list[PendingTx] = []
            try:
                for start in range(0, len(signed), _BATCH):
                    pending += self._submit(signed[start : start + _BATCH], accepted=len(pending))
            finally:
                if len(pending) == len(signed):
                    self._nonce += len(signed)
                else:
                    self._nonce = None  # the node may disagree about the nonce; re-read it next time
        return pending

    def _submit(self, signed: list[tuple[bytes, dict[str, Any], dict[str, Any]]], *, accepted: int
                ) -> list[PendingTx]:
        requests = [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw, _, _ in signed]
        responses = _batch(self._w3, requests) if len(signed) > 1 else None
        out: list[PendingTx] = []
        if responses is None:
            for raw, call, tx in signed:
                try:
                    tx_hash = bytes(self._w3.eth.send_raw_transaction(raw))
                except (Web3RPCError, ValueError, ValidationError) as exc:  # ValidationError: in-process eth-tester
                    n = accepted + len(out)
                    raise TransactionFailedError("the node rejected a transaction", accepted=n) from exc
                out.append(PendingTx(self._w3, tx_hash, call, raw=raw, nonce=tx["nonce"], signer=self, tx=tx))
            return out
        for (raw, call, tx), response in zip(signed, responses, strict=True):
            if "result" not in response:
                raise TransactionFailedError("the node rejected a transaction", accepted=accepted + len(out))
            out.append(PendingTx(self._w3, bytes.fromhex(response["result"][2:]), call, raw=raw, nonce=tx["nonce"],
                                 signer=self, tx=tx))
        return out

    def preflight(self, to: str, data: bytes, *, gas: int) -> None:
        """Simulate the call against the latest block; raise the decoded revert instead of sending a doomed tx."""
        call_view(lambda: self._w3.eth.call({"from": self.address, "to": to, "data": data, "gas": gas}))
