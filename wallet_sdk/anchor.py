"""Anchor proofs: evidence, kept with a credential, that its issuer anchored it on chain.

An issuer anchors the digests of what it signed (SD-JWT VC: sha256 of the issuer-signed JWT; CP1 copy:
sha256 of its COSE_Sign1) as leaves of an OpenZeppelin StandardMerkleTree whose root goes to the
AnchorRegistry. Anchoring happens in batches after issuance, so proofs arrive later than credentials;
the app fetches them (wallet_sdk does not read the chain) and hands them here with a trust snapshot
whose ``anchored_roots`` came from the chain. A proof is kept only if its leaf is one of this
credential's own digests and it leads to an anchored root. Proofs still ``queued``/``pending`` are
counted and not kept. The proof JSON is the issuer's (``digest``, ``root``, ``proof``, ``state``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from credcore.errors import CredError
from credcore.merkle import verify_proof
from credcore.trust import TrustSnapshot
from wallet_sdk.errors import CredentialRejectedError
from wallet_sdk.records import StoredCredential
from wallet_sdk.store import Wallet

__all__ = ["AnchorReport", "attach_anchor_proofs", "credential_digests"]


@dataclass(frozen=True, slots=True)
class AnchorReport:
    anchored: int  # proofs checked and stored now (or already stored)
    pending: int  # digests the issuer has not anchored yet
    total: int  # digests this credential has (SD-JWT VC + copies)


def credential_digests(record: StoredCredential) -> set[bytes]:
    """The Merkle leaf values of everything in ``record``, as the issuer anchors them (issuer/issuance.py)."""
    out = {hashlib.sha256(c.credential).digest() for c in record.copies}
    if record.sd_jwts:
        from credcore.sdjwt import credential_digest

        out.update(credential_digest(c.text) for c in record.sd_jwts)
    return out


def _bytes32(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ValueError("not a 0x-prefixed 32-byte hex string")
    return bytes.fromhex(value[2:])


def attach_anchor_proofs(
    wallet: Wallet, credential_id: str, proofs: Sequence[Mapping[str, Any]], *, trust: TrustSnapshot
) -> AnchorReport:
    """Check and keep anchor proofs for a stored credential.

    Raises:
        CredentialRejectedError: a proof names a digest this credential does not have, is malformed, or does
            not lead to a root the chain anchored (``context['reason']``: ``anchor_mismatch``/``not_anchored``).
    """
    record = wallet.load(credential_id)
    mine = credential_digests(record)
    kept = dict(record.anchor_proofs)
    pending = 0
    for p in proofs:
        try:
            digest = _bytes32(p.get("digest"))
            if digest not in mine:
                raise CredentialRejectedError(
                    "anchor proof is for another credential", check="anchor", reason="anchor_mismatch"
                )
            if p.get("state") != "anchored":
                pending += 1
                continue
            root, path = _bytes32(p.get("root")), [_bytes32(s) for s in p.get("proof") or []]
        except (ValueError, TypeError, AttributeError):
            raise CredentialRejectedError("anchor proof is malformed", check="anchor", reason="malformed") from None
        if root not in trust.anchored_roots:
            raise CredentialRejectedError("anchor root is not on chain", check="anchor", reason="not_anchored")
        try:
            ok = verify_proof(root, digest, path)
        except CredError:
            ok = False
        if not ok:
            raise CredentialRejectedError(
                "anchor proof does not lead to its root", check="anchor", reason="anchor_mismatch"
            )
        kept[digest.hex()] = {"format": "standard-v1", "leaf_encoding": ["bytes32"], "root": "0x" + root.hex(),
                              "leaf": "0x" + digest.hex(), "proof": ["0x" + s.hex() for s in path]}  # fmt: skip
    if kept != record.anchor_proofs:
        wallet.replace(dataclasses.replace(record, anchor_proofs=kept))
    return AnchorReport(anchored=len(kept), pending=pending, total=len(mine))
