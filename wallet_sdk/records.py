"""What the wallet keeps: credentials with their holder keys, single-use copies, and the holder's history.

Plain frozen dataclasses with explicit JSON forms, so the encrypted store never pickles and a backup is
readable by any later version. Private keys appear only inside sealed files (see :mod:`wallet_sdk._seal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import CredError
from credcore.keys import Curve, SigningKey
from wallet_sdk.errors import WalletCorruptError

__all__ = [
    "CopyRef",
    "Cp1Copy",
    "CredentialSummary",
    "LogEntry",
    "RefreshState",
    "SdJwtCopy",
    "SdJwtRef",
    "StatusRef",
    "StoredCredential",
    "key_from_json",
    "key_to_json",
]


def key_to_json(key: SigningKey) -> dict[str, str]:
    return {"crv": key.curve, "d": b64u_encode(key.secret_bytes())}


def key_from_json(obj: Mapping[str, Any]) -> SigningKey:
    return SigningKey.from_secret(cast(Curve, obj["crv"]), b64u_decode(obj["d"]))


@dataclass(frozen=True, slots=True)
class StatusRef:
    """Where a credential's status lives: Token Status List URI and index (``status.status_list``)."""

    uri: str
    index: int


@dataclass(frozen=True, slots=True)
class Cp1Copy:
    """One single-use ``CP1:`` copy: the issuer-signed COSE_Sign1 and the holder key bound into it."""

    credential: bytes
    holder_key: SigningKey = field(repr=False)
    profile: str
    status: StatusRef | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "credential": b64u_encode(self.credential),
            "key": key_to_json(self.holder_key),
            "profile": self.profile,
        }
        if self.status:
            out["status"] = {"uri": self.status.uri, "idx": self.status.index}
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Cp1Copy:
        st = obj.get("status")
        return cls(
            b64u_decode(obj["credential"]),
            key_from_json(obj["key"]),
            str(obj["profile"]),
            StatusRef(st["uri"], int(st["idx"])) if st else None,
        )


@dataclass(frozen=True, slots=True)
class SdJwtCopy:
    """One SD-JWT VC of a batch and the holder key bound into it (``cnf.jwk``)."""

    text: str
    holder_key: SigningKey = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"sd_jwt": self.text, "key": key_to_json(self.holder_key)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SdJwtCopy:
        return cls(str(obj["sd_jwt"]), key_from_json(obj["key"]))


@dataclass(frozen=True, slots=True)
class RefreshState:
    """What the wallet needs to fetch new batches without a new offer: the issuer's refresh token and the DPoP
    key it is bound to (RFC 9449), the endpoints, and which configurations (id -> format) the credential has."""

    refresh_token: str = field(repr=False)
    dpop_key: SigningKey = field(repr=False)
    credential_issuer: str
    token_endpoint: str
    credential_endpoint: str
    nonce_endpoint: str | None
    configurations: Mapping[str, str]
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "refresh_token": self.refresh_token,
            "dpop_key": key_to_json(self.dpop_key),
            "credential_issuer": self.credential_issuer,
            "token_endpoint": self.token_endpoint,
            "credential_endpoint": self.credential_endpoint,
            "nonce_endpoint": self.nonce_endpoint,
            "configurations": dict(self.configurations),
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RefreshState:
        return cls(
            str(obj["refresh_token"]),
            key_from_json(obj["dpop_key"]),
            str(obj["credential_issuer"]),
            str(obj["token_endpoint"]),
            str(obj["credential_endpoint"]),
            None if obj.get("nonce_endpoint") is None else str(obj["nonce_endpoint"]),
            {str(k): str(v) for k, v in dict(obj["configurations"]).items()},
            None if obj.get("expires_at") is None else int(obj["expires_at"]),
        )


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """One credential as issued: the SD-JWT VC (online use) and its batch of CP1 copies (offline use)."""

    id: str
    vct: str
    issuer: str  # ``iss``: the issuer identifier registered on chain
    received_at: int
    issued_at: int
    expires_at: int | None
    sd_jwt: str | None = None
    sd_jwt_key: SigningKey | None = field(default=None, repr=False)
    copies: tuple[Cp1Copy, ...] = ()
    status: StatusRef | None = None
    credential_issuer: str = ""  # the OpenID4VCI Credential Issuer URL it came from
    name: str = ""
    anchor_proofs: Mapping[str, Any] = field(default_factory=dict)  # digest hex -> AnchorProof JSON
    #: The other SD-JWT VCs of a batch (``sd_jwt`` is the first); each is shown once (see Wallet.take_sd_jwt).
    more_sd_jwts: tuple[SdJwtCopy, ...] = ()
    #: Set when the issuer gave a refresh token: new batches come without a new offer (wallet_sdk.refresh).
    refresh: RefreshState | None = None
    #: What the issuer calls this credential, when it said: the ``notification_id`` of its credential response
    #: (OpenID4VCI §8.3; a civicpass issuer's credential id, which its operators revoke by). Never shown to verifiers.
    issuer_ref: str = ""

    @property
    def sd_jwts(self) -> tuple[SdJwtCopy, ...]:
        """Every SD-JWT VC copy held, the first one first."""
        if self.sd_jwt is None or self.sd_jwt_key is None:
            return self.more_sd_jwts
        return (SdJwtCopy(self.sd_jwt, self.sd_jwt_key), *self.more_sd_jwts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vct": self.vct,
            "issuer": self.issuer,
            "received_at": self.received_at,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "sd_jwt": self.sd_jwt,
            "sd_jwt_key": key_to_json(self.sd_jwt_key) if self.sd_jwt_key else None,
            "copies": [c.to_json() for c in self.copies],
            "status": {"uri": self.status.uri, "idx": self.status.index} if self.status else None,
            "credential_issuer": self.credential_issuer,
            "name": self.name,
            "anchor_proofs": dict(self.anchor_proofs),
            "more_sd_jwts": [c.to_json() for c in self.more_sd_jwts],
            "refresh": self.refresh.to_json() if self.refresh else None,
            "issuer_ref": self.issuer_ref,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StoredCredential:
        try:
            st = obj["status"]
            return cls(
                id=str(obj["id"]),
                vct=str(obj["vct"]),
                issuer=str(obj["issuer"]),
                received_at=int(obj["received_at"]),
                issued_at=int(obj["issued_at"]),
                expires_at=None if obj["expires_at"] is None else int(obj["expires_at"]),
                sd_jwt=obj["sd_jwt"],
                sd_jwt_key=key_from_json(obj["sd_jwt_key"]) if obj["sd_jwt_key"] else None,
                copies=tuple(Cp1Copy.from_json(c) for c in obj["copies"]),
                status=StatusRef(st["uri"], int(st["idx"])) if st else None,
                credential_issuer=str(obj.get("credential_issuer", "")),
                name=str(obj.get("name", "")),
                anchor_proofs=dict(obj.get("anchor_proofs") or {}),
                more_sd_jwts=tuple(SdJwtCopy.from_json(c) for c in obj.get("more_sd_jwts") or ()),
                refresh=RefreshState.from_json(obj["refresh"]) if obj.get("refresh") else None,
                issuer_ref=str(obj.get("issuer_ref") or ""),
            )
        except (KeyError, TypeError, ValueError, CredError):
            raise WalletCorruptError("credential record is malformed") from None

    def summary(self, used: frozenset[int] = frozenset()) -> CredentialSummary:
        return CredentialSummary(
            id=self.id,
            vct=self.vct,
            issuer=self.issuer,
            name=self.name,
            received_at=self.received_at,
            expires_at=self.expires_at,
            has_sd_jwt=self.sd_jwt is not None,
            copy_profiles=tuple(c.profile for c in self.copies),
            used=used,
            sd_jwt_count=len(self.sd_jwts),
            refreshable=self.refresh is not None,
            issuer_ref=self.issuer_ref,
        )


@dataclass(frozen=True, slots=True)
class CredentialSummary:
    """The index entry for one credential: enough to list and choose, without decrypting its blob.

    ``used`` (indices of spent CP1 copies) lives here, in the one file whose atomic replace commits a
    presentation, so a copy is marked spent before its QR is ever shown.
    """

    id: str
    vct: str
    issuer: str
    name: str
    received_at: int
    expires_at: int | None
    has_sd_jwt: bool
    copy_profiles: tuple[str, ...]
    used: frozenset[int] = frozenset()
    status: str | None = None  # "valid" | "revoked" | "suspended" | None (never checked)
    status_checked_at: int | None = None
    sd_jwt_count: int = 0
    sd_jwt_used: frozenset[int] = frozenset()  # indices of SD-JWT copies already shown (batches only)
    refreshable: bool = False  # the issuer gave a refresh token (new batches without a new offer)
    issuer_ref: str = ""  # see StoredCredential.issuer_ref

    def unused_sd_jwts(self) -> list[int]:
        return [i for i in range(self.sd_jwt_count) if i not in self.sd_jwt_used]

    def unused(self, profile: str | None = None) -> list[int]:
        return [i for i, p in enumerate(self.copy_profiles) if i not in self.used and (profile is None or p == profile)]

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.copy_profiles))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vct": self.vct,
            "issuer": self.issuer,
            "name": self.name,
            "received_at": self.received_at,
            "expires_at": self.expires_at,
            "has_sd_jwt": self.has_sd_jwt,
            "copy_profiles": list(self.copy_profiles),
            "used": sorted(self.used),
            "status": self.status,
            "status_checked_at": self.status_checked_at,
            "sd_jwt_count": self.sd_jwt_count,
            "sd_jwt_used": sorted(self.sd_jwt_used),
            "refreshable": self.refreshable,
            "issuer_ref": self.issuer_ref,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CredentialSummary:
        try:
            return cls(
                id=str(obj["id"]),
                vct=str(obj["vct"]),
                issuer=str(obj["issuer"]),
                name=str(obj["name"]),
                received_at=int(obj["received_at"]),
                expires_at=None if obj["expires_at"] is None else int(obj["expires_at"]),
                has_sd_jwt=bool(obj["has_sd_jwt"]),
                copy_profiles=tuple(str(p) for p in obj["copy_profiles"]),
                used=frozenset(int(i) for i in obj["used"]),
                status=obj.get("status"),
                status_checked_at=obj.get("status_checked_at"),
                sd_jwt_count=int(obj.get("sd_jwt_count", 1 if obj["has_sd_jwt"] else 0)),
                sd_jwt_used=frozenset(int(i) for i in obj.get("sd_jwt_used", ())),
                refreshable=bool(obj.get("refreshable", False)),
                issuer_ref=str(obj.get("issuer_ref") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise WalletCorruptError("wallet index entry is malformed") from None


@dataclass(frozen=True, slots=True)
class CopyRef:
    """A CP1 copy taken for one presentation, with how many of its profile remain unused."""

    credential_id: str
    index: int
    copy: Cp1Copy
    remaining: int


@dataclass(frozen=True, slots=True)
class SdJwtRef:
    """An SD-JWT VC copy taken for one presentation, with how many unused copies remain."""

    credential_id: str
    index: int
    copy: SdJwtCopy
    remaining: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the holder's own history: what was shown, to whom, when. Never claim values."""

    at: int
    credential_id: str
    kind: str  # "cp1" (offline QR) | "openid4vp" (online)
    verifier: str = ""  # OpenID4VP client_id; empty for an offline QR
    claims: tuple[str, ...] = ()  # claim names disclosed (names only)
    profile: str = ""
    outcome: str = "shown"  # "shown" | "accepted" | "refused:<code>"

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "credential_id": self.credential_id,
            "kind": self.kind,
            "verifier": self.verifier,
            "claims": list(self.claims),
            "profile": self.profile,
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LogEntry:
        try:
            return cls(
                int(obj["at"]),
                str(obj["credential_id"]),
                str(obj["kind"]),
                str(obj.get("verifier", "")),
                tuple(str(c) for c in obj.get("claims", ())),
                str(obj.get("profile", "")),
                str(obj.get("outcome", "shown")),
            )
        except (KeyError, TypeError, ValueError):
            raise WalletCorruptError("history entry is malformed") from None
