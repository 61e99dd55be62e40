"""The verification decision's shared steps and its result, for every presentation format.

:func:`credcore.presentations.verify_presentation` takes presentation text, a
:class:`~credcore.trust.TrustSnapshot` and the time, and returns a :class:`VerificationResult` naming each check
with a stable code. It raises only :class:`~credcore.errors.MalformedPresentationError` (or another
``MalformedInputError``) for text it cannot parse at all; every other failure is a failed check.

Checks run in this order (docs/architecture.md, "One verification decision"): format, trust (issuer accredited for
the type), key (valid at ``iat``), signature, validity (exp/nbf), status, holder binding (signature, nonce,
audience, freshness, replay), disclosures, anchor. Policy runs in the verifier, on a result that passed. The
pipeline stops at the first failed check: later checks would reason about data that is already untrusted. The result
lists the checks that ran, so the last one is the reason.

Format modules (:mod:`credcore.sdjwt`, :mod:`credcore.cp1`) do their own parsing and call the shared
steps below, so the rules for trust, key windows, validity and status are written once. This module imports
neither format: they build on it, and :mod:`credcore.presentations` picks one for a presentation.

Replay is decided in two phases, both here, so the verdict is final when it leaves credcore. The pipeline
runs every pure check and marks the replay point (the end of holder binding) with the presentation's replay
key; the result is a :class:`PendingVerification` carrying that key and its expiry. The caller asks its
:class:`~credcore.ports.ReplayGuard` about the key, once, and :meth:`PendingVerification.settle` turns the
answer into the verdict: the first-use verdict, or the checks up to holder binding ending in ``replayed``.
Deciding after the later checks gives the same verdict as deciding at the replay point, because every step
after it is pure. A synchronous guard goes through :meth:`PendingVerification.settle_with`; a service whose
cache answers on an event loop asks it there and passes the answer to :meth:`~PendingVerification.settle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final

from credcore.ports import ReplayGuard
from credcore.status_list import Status
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

__all__ = [
    "Check",
    "CheckOutcome",
    "CheckRecorder",
    "Code",
    "PendingVerification",
    "ReplayKey",
    "VerificationResult",
]

#: Allowed clock skew between issuer, holder and verifier, in seconds.
CLOCK_SKEW: Final = 60


class Check(StrEnum):
    FORMAT = "format"
    TRUST = "trust"
    KEY = "key"
    SIGNATURE = "signature"
    VALIDITY = "validity"
    STATUS = "status"
    HOLDER_BINDING = "holder_binding"
    DISCLOSURES = "disclosures"
    ANCHOR = "anchor"


class Code(StrEnum):
    """Stable failure codes carried by :class:`CheckOutcome`. Part of the public API: never rename."""

    MALFORMED = "malformed"
    WRONG_TYPE = "wrong_type"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    ISSUER_NOT_ACCREDITED = "issuer_not_accredited"
    ISSUER_SUSPENDED = "issuer_suspended"
    TYPE_NOT_ACCREDITED = "type_not_accredited"
    UNKNOWN_KEY = "unknown_key"
    KEY_NOT_VALID_AT_ISSUANCE = "key_not_valid_at_issuance"
    SIGNATURE_INVALID = "signature_invalid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_UNKNOWN = "status_unknown"
    HOLDER_BINDING_MISSING = "holder_binding_missing"
    HOLDER_SIGNATURE_INVALID = "holder_signature_invalid"
    NONCE_MISMATCH = "nonce_mismatch"
    AUDIENCE_MISMATCH = "audience_mismatch"
    PROOF_NOT_FRESH = "proof_not_fresh"
    SD_HASH_MISMATCH = "sd_hash_mismatch"
    REPLAYED = "replayed"
    DISCLOSURE_MISMATCH = "disclosure_mismatch"
    DUPLICATE_DISCLOSURE = "duplicate_disclosure"
    DUPLICATE_DIGEST = "duplicate_digest"
    UNREFERENCED_DISCLOSURE = "unreferenced_disclosure"
    NOT_ANCHORED = "not_anchored"
    ANCHOR_MISMATCH = "anchor_mismatch"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    check: Check
    passed: bool
    code: str | None = None
    detail: str = ""  # for people; never carries claim values, salts or keys

    def to_json(self) -> dict[str, Any]:
        return {"check": str(self.check), "passed": self.passed, "code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The verdict on one presentation. ``claims`` is empty unless every check passed."""

    format: str
    outcomes: tuple[CheckOutcome, ...]
    claims: Mapping[str, Any]
    checked_at: int
    credential_type: str | None = None
    issuer: str | None = None
    profile: str | None = None
    credential_digest: bytes | None = None
    trust_block: int | None = None
    trust_age: int | None = None

    @property
    def verified(self) -> bool:
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    def failures(self) -> tuple[CheckOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    @property
    def code(self) -> str | None:
        """The first failure's code, or ``None`` when verified."""
        failed = self.failures()
        return failed[0].code if failed else None

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "format": self.format,
            "code": self.code,
            "checks": [o.to_json() for o in self.outcomes],
            "claims": dict(self.claims) if self.verified else {},
            "credential_type": self.credential_type,
            "issuer": self.issuer,
            "profile": self.profile,
            "checked_at": self.checked_at,
            "trust": {"block": self.trust_block, "age_seconds": self.trust_age},
        }


#: A replay key and the unix time until which a guard must remember it.
ReplayKey = tuple[bytes, int]

_REPLAYED: Final = CheckOutcome(Check.HOLDER_BINDING, False, str(Code.REPLAYED), "presentation was already used")


@dataclass(frozen=True, slots=True)
class PendingVerification:
    """A verdict waiting on the replay guard: what the pipeline decided, and the replay keys it left open.

    ``replay_keys`` holds one key for a presentation that reached the end of holder binding with a proof to
    replay (a CP1 holder proof, an SD-JWT key-binding JWT), and none otherwise: a presentation that failed
    earlier, or an SD-JWT without key binding, has nothing a guard should record.
    """

    if_first_use: VerificationResult  # the verdict when every key is a first use
    replay_keys: tuple[ReplayKey, ...] = ()
    replayed_after: int = 0  # how many of if_first_use's outcomes precede the replay point

    def settle(self, first_use: Sequence[bool]) -> VerificationResult:
        """The final verdict, given the guard's answer for each of :attr:`replay_keys`, in order.

        Raises:
            ValueError: not exactly one answer per key (a caller that skipped a key would accept a replay).
        """
        if len(first_use) != len(self.replay_keys):
            raise ValueError(f"{len(self.replay_keys)} replay key(s) to settle, {len(first_use)} answer(s) given")
        if all(first_use):
            return self.if_first_use
        # The verdict a guard gives at the replay point: the checks so far, holder binding failing, no claims.
        r = self.if_first_use
        return replace(r, outcomes=(*r.outcomes[: self.replayed_after], _REPLAYED), claims={})

    def settle_with(self, guard: ReplayGuard | None) -> VerificationResult:
        """Ask ``guard`` about each key (``first_use`` records it) and settle; ``None`` checks no replay."""
        keys = self.replay_keys
        if guard is None or not keys:
            return self.if_first_use
        return self.settle([guard.first_use(key, expires_at) for key, expires_at in keys])


#: One shared, immutable "passed" outcome per check: recording a pass allocates nothing on the hot path.
_PASSED: Final[Mapping[Check, CheckOutcome]] = {c: CheckOutcome(c, True) for c in Check}


_PASSED_OF: Final = attrgetter("passed")


class StopVerification(Exception):
    """Raised by :class:`CheckRecorder` after a failed check; caught by :meth:`CheckRecorder.result`."""


@dataclass(slots=True)
class CheckRecorder:
    """Collects outcomes while a format module verifies; ``fail`` stops the pipeline."""

    format: str
    trust: TrustSnapshot
    now: int
    outcomes: list[CheckOutcome] = field(default_factory=list)
    credential_type: str | None = None
    issuer: str | None = None
    profile: str | None = None
    credential_digest: bytes | None = None
    replay_keys: tuple[ReplayKey, ...] = ()
    replayed_after: int = 0

    def ok(self, check: Check) -> None:
        self.outcomes.append(_PASSED[check])

    def fail(self, check: Check, code: Code, detail: str = "") -> StopVerification:
        """Record a failure and return the exception to raise: ``raise rec.fail(...)``."""
        self.outcomes.append(CheckOutcome(check, False, str(code), detail))
        return StopVerification()

    def result(self, claims: Mapping[str, Any] | None = None) -> VerificationResult:
        outcomes = tuple(self.outcomes)
        passed = bool(outcomes) and False not in map(_PASSED_OF, outcomes)  # all(o.passed ...), looped in C
        trust = self.trust
        return VerificationResult(  # positional, in field order: this runs for every presentation
            self.format,
            outcomes,
            dict(claims or {}) if passed else {},
            self.now,
            self.credential_type,
            self.issuer,
            self.profile,
            self.credential_digest,
            trust.block_number,
            trust.age(self.now),
        )

    # --- shared steps ---------------------------------------------------------------------------------
    def check_trust(self, issuer: TrustedIssuer | None, credential_type: str) -> TrustedIssuer:
        """Issuer known, not suspended, and accredited for ``credential_type``."""
        if issuer is None:
            raise self.fail(Check.TRUST, Code.ISSUER_NOT_ACCREDITED, "issuer is not in the trust registry")
        self.issuer = issuer.issuer_id
        if issuer.suspended(self.now):
            raise self.fail(Check.TRUST, Code.ISSUER_SUSPENDED, "issuer accreditation is suspended")
        if not issuer.may_issue(credential_type):
            raise self.fail(Check.TRUST, Code.TYPE_NOT_ACCREDITED, "issuer is not accredited for this type")
        self.ok(Check.TRUST)
        return issuer

    def check_key(self, key: IssuerKey | None, iat: int) -> IssuerKey:
        """The signing key is the issuer's and was in force when the credential was issued."""
        if key is None:
            raise self.fail(Check.KEY, Code.UNKNOWN_KEY, "signing key is not registered for the issuer")
        if not key.valid_at(iat):
            raise self.fail(Check.KEY, Code.KEY_NOT_VALID_AT_ISSUANCE, "signing key was not valid at issuance")
        self.ok(Check.KEY)
        return key

    def check_validity(self, iat: int, exp: int | None, nbf: int | None = None) -> None:
        if exp is not None and self.now >= exp + CLOCK_SKEW:
            raise self.fail(Check.VALIDITY, Code.EXPIRED, "credential has expired")
        if iat > self.now + CLOCK_SKEW or (nbf is not None and nbf > self.now + CLOCK_SKEW):
            raise self.fail(Check.VALIDITY, Code.NOT_YET_VALID, "credential is not valid yet")
        self.ok(Check.VALIDITY)

    def check_status(self, record_found: bool, status: int | None) -> None:
        """Status from a chain-confirmed list; ``record_found`` False means the list is not in the snapshot."""
        if record_found and status == Status.VALID:  # the common case first; the same outcome as below
            self.outcomes.append(_PASSED[Check.STATUS])
            return
        if not record_found or status is None:
            raise self.fail(Check.STATUS, Code.STATUS_UNKNOWN, "status list is not in the trust snapshot")
        if status == Status.INVALID:
            raise self.fail(Check.STATUS, Code.REVOKED, "credential is revoked")
        if status == Status.SUSPENDED:
            raise self.fail(Check.STATUS, Code.SUSPENDED, "credential is suspended")
        if status != Status.VALID:
            raise self.fail(Check.STATUS, Code.STATUS_UNKNOWN, "status value is not understood")
        self.ok(Check.STATUS)

    def check_status_in(self, record: StatusListRecord | None, index: int) -> None:
        """Look ``index`` up in ``record`` (``None`` when the snapshot has no such list)."""
        inside = record is not None and 0 <= index < record.status_list.size
        self.check_status(record is not None, record.status_list.get(index) if record and inside else None)

    def defer_replay(self, key: bytes, expires_at: int) -> None:
        """Mark the replay point: ``key`` goes to the guard once the pure checks are done (see the module doc)."""
        if not self.replay_keys:
            self.replayed_after = len(self.outcomes)
        self.replay_keys += ((key, expires_at),)

    def pending(self, claims: Mapping[str, Any] | None = None) -> PendingVerification:
        return PendingVerification(self.result(claims), self.replay_keys, self.replayed_after)
