"""The trust snapshot: what a verifier believes about issuers, their keys and status lists.

A :class:`TrustSnapshot` is built by I/O code (the verifier's chain sync, or from plain issuer JWKs for
offline use) and consumed by the pure verification pipeline: "fetch, then decide". It is immutable
and carries the chain block it was read at, so any verdict can be replayed from the same snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credcore.keys import PublicKey
from credcore.status_list import StatusList

__all__ = [
    "ANY_ISSUER",
    "ANY_TYPE",
    "IssuerKey",
    "StatusListRecord",
    "TrustSnapshot",
    "TrustedIssuer",
    "kid8",
]

#: As ``TrustedIssuer.issuer_id``: keys trusted whatever ``iss`` a credential names (offline use only).
ANY_ISSUER = "*"
#: In ``TrustedIssuer.credential_types``: the issuer may issue any type (offline use from bare JWKs only).
ANY_TYPE = "*"


def kid8(thumbprint_bytes: bytes) -> bytes:
    """The 8-byte key id used in compact ``CP1:`` credentials: a prefix of the RFC 7638 thumbprint."""
    return thumbprint_bytes[:8]


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """One signing key of an issuer with its validity window (unix seconds; ``None`` = open)."""

    public_key: PublicKey
    valid_from: int = 0
    valid_until: int | None = None
    revoked_at: int | None = None
    thumbprint: str = field(default="")
    #: A key given as a bare JWK (offline use): the JWK's own ``kid``, or ``None`` when it had none, in which
    #: case it answers to any header ``kid`` as JOSE libraries match keys. Chain keys leave both unset.
    jwk_kid: str | None = None
    any_kid: bool = False

    def __post_init__(self) -> None:
        if not self.thumbprint:
            object.__setattr__(self, "thumbprint", self.public_key.thumbprint())

    @property
    def kid8(self) -> bytes:
        return kid8(self.public_key.thumbprint_bytes())

    def valid_at(self, t: int) -> bool:
        """Was the key in force at ``t``? A revoked key stays valid for what it signed before revocation."""
        if t < self.valid_from:
            return False
        if self.valid_until is not None and t >= self.valid_until:
            return False
        return self.revoked_at is None or t < self.revoked_at


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An accredited issuer: its identifier (the ``iss`` value), name, allowed types and keys."""

    issuer_id: str
    name: str
    credential_types: frozenset[str]
    keys: tuple[IssuerKey, ...]
    suspended_at: int | None = None
    account: str | None = None

    def may_issue(self, credential_type: str) -> bool:
        return ANY_TYPE in self.credential_types or credential_type in self.credential_types

    def suspended(self, t: int) -> bool:
        return self.suspended_at is not None and t >= self.suspended_at


@dataclass(frozen=True, slots=True)
class StatusListRecord:
    """A status list whose digest the chain confirmed (or that was handed over for offline use)."""

    issuer_id: str
    list_id: int
    uri: str
    status_list: StatusList
    version: int = 0
    digest: bytes = b""
    fetched_at: int | None = None


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """Issuers, keys and status lists as of one chain block. Lookups are indexed once at construction."""

    issuers: tuple[TrustedIssuer, ...] = ()
    status_lists: tuple[StatusListRecord, ...] = ()
    anchored_roots: frozenset[bytes] = frozenset()
    block_number: int | None = None
    synced_at: int | None = None
    _by_id: dict[str, TrustedIssuer] = field(init=False, repr=False, compare=False)
    _by_kid8: dict[bytes, list[tuple[TrustedIssuer, IssuerKey]]] = field(init=False, repr=False, compare=False)
    _by_thumb: dict[str, tuple[TrustedIssuer, IssuerKey]] = field(init=False, repr=False, compare=False)
    _lists_by_uri: dict[str, StatusListRecord] = field(init=False, repr=False, compare=False)
    _lists_by_id: dict[tuple[str, int], StatusListRecord] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kid8: dict[bytes, list[tuple[TrustedIssuer, IssuerKey]]] = {}
        by_thumb: dict[str, tuple[TrustedIssuer, IssuerKey]] = {}
        for issuer in self.issuers:
            for key in issuer.keys:
                by_kid8.setdefault(key.kid8, []).append((issuer, key))
                by_thumb[key.thumbprint] = (issuer, key)
        object.__setattr__(self, "_by_id", {i.issuer_id: i for i in self.issuers})
        object.__setattr__(self, "_by_kid8", by_kid8)
        object.__setattr__(self, "_by_thumb", by_thumb)
        object.__setattr__(self, "_lists_by_uri", {s.uri: s for s in self.status_lists})
        object.__setattr__(self, "_lists_by_id", {(s.issuer_id, s.list_id): s for s in self.status_lists})

    # --- lookups ----------------------------------------------------------------------------------
    def issuer(self, issuer_id: str) -> TrustedIssuer | None:
        return self._by_id.get(issuer_id)

    def issuer_for(self, iss: str) -> TrustedIssuer | None:
        """The issuer named ``iss``, or the wildcard issuer of an offline snapshot."""
        return self._by_id.get(iss) or self._by_id.get(ANY_ISSUER)

    def keys_by_kid8(self, kid: bytes) -> Sequence[tuple[TrustedIssuer, IssuerKey]]:
        """Every (issuer, key) whose thumbprint starts with ``kid`` (normally one)."""
        return self._by_kid8.get(kid, ())

    def key_by_thumbprint(self, thumbprint: str) -> tuple[TrustedIssuer, IssuerKey] | None:
        return self._by_thumb.get(thumbprint)

    def status_list_by_uri(self, uri: str) -> StatusListRecord | None:
        return self._lists_by_uri.get(uri)

    def status_list_by_id(self, issuer_id: str, list_id: int) -> StatusListRecord | None:
        return self._lists_by_id.get((issuer_id, list_id))

    def age(self, now: int) -> int | None:
        """Seconds since the snapshot was synced, or ``None`` for a snapshot with no sync time."""
        return None if self.synced_at is None else max(0, now - self.synced_at)

    # --- construction for offline use -------------------------------------------------------------------
    @classmethod
    def from_issuer_jwks(
        cls,
        jwks: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        status_lists: Iterable[StatusListRecord] = (),
    ) -> TrustSnapshot:
        """Trust the given issuers' public JWKs for any credential type, with open validity windows.

        For offline checks (``civicpass verify --issuer-jwk``) and tests; a chain-synced snapshot is
        stricter because it knows each issuer's types and each key's window. Beyond the thumbprint, a
        header ``kid`` finds a JWK given with that ``kid``, or one given without any.
        """
        issuers = tuple(
            TrustedIssuer(
                issuer_id=issuer_id,
                name=issuer_id,
                credential_types=frozenset({ANY_TYPE}),
                keys=tuple(
                    IssuerKey(PublicKey.from_jwk(jwk), jwk_kid=_str_or_none(jwk.get("kid")), any_kid="kid" not in jwk)
                    for jwk in keys
                ),
            )
            for issuer_id, keys in jwks.items()
        )
        return cls(issuers=issuers, status_lists=tuple(status_lists))


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
