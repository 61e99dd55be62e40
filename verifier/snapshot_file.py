"""The trust snapshot on disk (JSON), so a counter that restarts without network keeps verifying.

Written atomically (temporary file, fsync, ``os.replace``): a power cut during a write leaves the previous
snapshot, never half a file. Public data only (issuer keys, status bits, roots); nothing secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from credcore.errors import MalformedInputError
from credcore.keys import PublicKey
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

__all__ = ["FORMAT", "load_snapshot", "save_snapshot", "snapshot_from_json", "snapshot_to_json"]

FORMAT: Final = "civicpass-trust-snapshot-v1"


def snapshot_to_json(snap: TrustSnapshot, *, cursor: dict[str, Any] | None = None) -> dict[str, Any]:
    """``cursor`` is opaque state of the sync (e.g. the next block to read), stored alongside."""
    return {
        "format": FORMAT,
        "block_number": snap.block_number,
        "synced_at": snap.synced_at,
        "cursor": cursor or {},
        "issuers": [
            {
                "issuer_id": i.issuer_id,
                "name": i.name,
                "credential_types": sorted(i.credential_types),
                "suspended_at": i.suspended_at,
                "account": i.account,
                "keys": [
                    {"jwk": k.public_key.to_jwk(), "valid_from": k.valid_from, "valid_until": k.valid_until,
                     "revoked_at": k.revoked_at}
                    for k in i.keys
                ],
            }
            for i in snap.issuers
        ],
        "status_lists": [
            {"issuer_id": s.issuer_id, "list_id": s.list_id, "uri": s.uri, "status_list": s.status_list.to_json(),
             "version": s.version, "digest": s.digest.hex(), "fetched_at": s.fetched_at}
            for s in snap.status_lists
        ],
        "anchored_roots": sorted(r.hex() for r in snap.anchored_roots),
    }


def snapshot_from_json(data: Any) -> tuple[TrustSnapshot, dict[str, Any]]:
    """Inverse of :func:`snapshot_to_json`; returns the snapshot and the sync cursor."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MalformedInputError("not a civicpass trust snapshot file")
    try:
        issuers = tuple(
            TrustedIssuer(
                issuer_id=i["issuer_id"],
                name=i["name"],
                credential_types=frozenset(i["credential_types"]),
                keys=tuple(
                    IssuerKey(PublicKey.from_jwk(k["jwk"]), k["valid_from"], k["valid_until"], k["revoked_at"])
                    for k in i["keys"]
                ),
                suspended_at=i["suspended_at"],
                account=i["account"],
            )
            for i in data["issuers"]
        )
        lists = tuple(
            StatusListRecord(s["issuer_id"], s["list_id"], s["uri"], StatusList.from_json(s["status_list"]),
                             s["version"], bytes.fromhex(s["digest"]), s["fetched_at"])
            for s in data["status_lists"]
        )
        snap = TrustSnapshot(
            issuers=issuers,
            status_lists=lists,
            anchored_roots=frozenset(bytes.fromhex(r) for r in data["anchored_roots"]),
            block_number=data["block_number"],
            synced_at=data["synced_at"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedInputError("trust snapshot file is damaged") from exc
    cursor = data.get("cursor")
    return snap, cursor if isinstance(cursor, dict) else {}


def save_snapshot(path: Path, snap: TrustSnapshot, *, cursor: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot_to_json(snap, cursor=cursor), separators=(",", ":"))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(path: Path) -> tuple[TrustSnapshot, dict[str, Any]] | None:
    """The persisted snapshot, or ``None`` when there is none yet. A damaged file raises."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedInputError("trust snapshot file is not JSON") from None
    return snapshot_from_json(data)
