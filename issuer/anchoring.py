"""Anchoring: batch credential digests into an OpenZeppelin-compatible Merkle root and write it on chain.

The queue is the database: every issued artefact's digest is inserted with ``batch_id IS NULL`` in the
same transaction as the credential, so issuance never waits for the chain and nothing is lost when the
chain is down. The worker works in two committed steps:

1. *form*: take up to ``batch_size`` queued digests (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
   workers never share one), build the tree, store the batch (root unique) and point the items at it;
2. *send*: for each pending batch that is due, ask the chain whether the root is already anchored (a
   crash after sending must not anchor twice: the contract also refuses a known root), else send it.
   Failures back off exponentially (``2^attempts`` seconds, capped) and are retried; nothing is dropped.

A batch forms when ``batch_size`` digests wait, or when some wait and ``interval`` seconds have passed
since the last batch.
The chain sits behind :class:`ChainGateway`, so tests run with an in-memory fake or a real chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from credcore.errors import NotFoundError
from credcore.keys import PublicKey
from credcore.merkle import StandardMerkleTree
from issuer.store.models import AnchorBatch, CredentialItem

__all__ = ["AnchorProof", "Anchorer", "ChainGateway", "ChainReceipt", "anchor_proofs"]


@dataclass(frozen=True, slots=True)
class ChainReceipt:
    tx_hash: str | None
    block: int | None
    timestamp: int | None = None  # the block's time, when known


class ChainGateway(Protocol):
    """What the issuer writes to and reads from the chain (adapter over the contracts bindings)."""

    @property
    def issuer_id(self) -> str: ...

    def anchor_root(self, root: bytes, count: int) -> ChainReceipt: ...

    def find_anchor(self, root: bytes) -> ChainReceipt | None:
        """The anchoring of ``root`` if it is already on chain (block may be known, tx may not)."""
        ...

    def publish_status(self, list_id: int, digest: bytes, uri: str) -> ChainReceipt: ...

    def add_key(self, key: PublicKey) -> ChainReceipt:
        """Register ``key``, valid from the block's time (the contract refuses windows in the past)."""
        ...

    def close_key(self, thumbprint: str, not_before: int) -> int:
        """End ``thumbprint``'s window on chain at ``not_before`` or later, never earlier; returns the end the
        chain holds. Idempotent: a key already closed is left as it is."""
        ...


class Anchorer:
    """Forms batches from the durable queue and anchors them; call :meth:`run_once` from a worker loop."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        chain: ChainGateway | None,
        *,
        batch_size: int,
        interval: float,
        max_backoff: float,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._chain = chain
        self._batch_size = batch_size
        self._interval = interval
        self._max_backoff = max_backoff
        self._on_error = on_error or (lambda _msg: None)
        self._last_formed: float | None = None

    def run_once(self, now: int, *, force: bool = False) -> int:
        """Form what is due and send what is due; returns the number of batches anchored."""
        if self._chain is None:
            return 0
        while self.form_batch(now, force=force) is not None:
            pass
        return self.send_pending(now)

    def form_batch(self, now: int, *, force: bool = False) -> int | None:
        with self._sessions.begin() as session:
            waiting = session.scalar(select(func.count()).where(CredentialItem.batch_id.is_(None))) or 0
            if waiting == 0:
                return None
            due = self._last_formed is None or now - self._last_formed >= self._interval
            if waiting < self._batch_size and not (force or due):
                return None
            q = (
                select(CredentialItem.id, CredentialItem.digest)
                .where(CredentialItem.batch_id.is_(None))
                .order_by(CredentialItem.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )
            rows = session.execute(q).all()
            if not rows:
                return None
            tree = StandardMerkleTree.of([d for _, d in rows])
            batch = AnchorBatch(root=tree.root, count=len(rows), state="pending", attempts=0, next_attempt_at=0,
                                created_at=now)
            session.add(batch)
            session.flush()
            ids = [i for i, _ in rows]
            session.execute(update(CredentialItem).where(CredentialItem.id.in_(ids)).values(batch_id=batch.id))
            self._last_formed = now
            return batch.id

    def send_pending(self, now: int) -> int:
        assert self._chain is not None
        with self._sessions() as session:
            due = session.scalars(
                select(AnchorBatch.id)
                .where(AnchorBatch.state == "pending", AnchorBatch.next_attempt_at <= now)
                .order_by(AnchorBatch.id)
            ).all()
        anchored = 0
        for batch_id in due:
            anchored += self._send(batch_id, now)
        return anchored

    def _send(self, batch_id: int, now: int) -> int:
        assert self._chain is not None
        with self._sessions() as session:
            batch = session.get(AnchorBatch, batch_id)
            if batch is None or batch.state != "pending":
                return 0
            root, count = batch.root, batch.count
        try:
            receipt = self._chain.find_anchor(root) or self._chain.anchor_root(root, count)
        except Exception as exc:  # any chain failure: count it, back off, retry later
            with self._sessions.begin() as session:
                batch = session.get(AnchorBatch, batch_id)
                assert batch is not None
                batch.attempts += 1
                batch.next_attempt_at = now + int(min(self._max_backoff, 2**batch.attempts))
                batch.last_error = f"{type(exc).__name__}"[:200]
            self._on_error(f"anchoring batch {batch_id} failed ({type(exc).__name__}); will retry")
            return 0
        with self._sessions.begin() as session:
            batch = session.get(AnchorBatch, batch_id)
            assert batch is not None
            batch.state, batch.tx_hash, batch.block, batch.anchored_at = "anchored", receipt.tx_hash, receipt.block, now
            batch.last_error = None
        return 1


@dataclass(frozen=True, slots=True)
class AnchorProof:
    kind: str
    digest: bytes
    state: str
    root: bytes | None = None
    proof: tuple[bytes, ...] = ()
    tx_hash: str | None = None
    block: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "digest": "0x" + self.digest.hex(),
            "state": self.state,
            "root": None if self.root is None else "0x" + self.root.hex(),
            "proof": ["0x" + p.hex() for p in self.proof],
            "leaf_encoding": ["bytes32"],
            "tx_hash": self.tx_hash,
            "block": self.block,
        }


def anchor_proofs(session: Session, credential_id: str) -> list[AnchorProof]:
    """Inclusion proofs for every artefact of a credential (``queued`` / ``pending`` / ``anchored``)."""
    q = select(CredentialItem).where(CredentialItem.credential_id == credential_id).order_by(CredentialItem.id)
    items = sorted(session.scalars(q).all(), key=lambda i: i.kind != "dc+sd-jwt")  # the SD-JWT VC first
    if not items:
        raise NotFoundError("no such credential")
    out: list[AnchorProof] = []
    trees: dict[int, StandardMerkleTree] = {}
    for item in items:
        if item.batch_id is None:
            out.append(AnchorProof(item.kind, item.digest, "queued"))
            continue
        batch = session.get(AnchorBatch, item.batch_id)
        assert batch is not None
        if item.batch_id not in trees:
            leaves = session.scalars(
                select(CredentialItem.digest).where(CredentialItem.batch_id == batch.id).order_by(CredentialItem.id)
            ).all()
            trees[item.batch_id] = StandardMerkleTree.of(list(leaves))
        proof = trees[item.batch_id].get_proof((item.digest,))
        out.append(AnchorProof(item.kind, item.digest, batch.state, batch.root, proof, batch.tx_hash, batch.block))
    return out
