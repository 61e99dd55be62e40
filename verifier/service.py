"""Verification as a domain operation: presentation + policy name -> :class:`Verdict`. No FastAPI here.

The service asks credcore for the cryptographic verdict against the current trust snapshot, then the
policy for the business verdict, and folds both into one answer with every check listed. credcore leaves
the replay decision open (:func:`credcore.presentations.verify_presentation_deferred`): the service asks
its replay cache about the key, on the event loop or in a worker thread, and hands the answer back to
credcore, whose ``settle`` gives the final verdict. Text that cannot be parsed as a credential is a verdict
too (a failed ``format`` check), not an error: the request was well formed, the credential was not. Only an
unknown policy or an unavailable dependency (replay cache) is raised.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from credcore.errors import CredError, MalformedInputError
from credcore.ports import Clock, ReplayGuard
from credcore.presentations import verify_presentation_deferred
from credcore.trust import TrustSnapshot
from credcore.verification import Check, CheckOutcome, Code, PendingVerification, VerificationResult
from verifier.errors import UnknownPolicyError
from verifier.policies import Policy, PolicyDecision, evaluate

__all__ = [
    "AsyncReplayGuard",
    "StaticTrust",
    "TrustView",
    "Verdict",
    "VerifierService",
    "jsonable",
    "unparsable_result",
    "verify_qr",
]

log = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """Claims as JSON: CP1 carries some claims as bytes (a business number digest): in hex, as ``civicpass
    verify`` and ``inspect`` show them and credcore's CP1 inspection gives them, so one digest reads the same
    everywhere."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class TrustView(Protocol):
    def current(self) -> TrustSnapshot: ...


class StaticTrust:
    """A trust snapshot that only changes when someone calls :meth:`replace` (the sync does)."""

    def __init__(self, snapshot: TrustSnapshot) -> None:
        self._snap = snapshot
        self._lock = threading.Lock()

    def current(self) -> TrustSnapshot:
        return self._snap

    def replace(self, snapshot: TrustSnapshot) -> None:
        with self._lock:
            self._snap = snapshot


@dataclass(frozen=True, slots=True)
class Verdict:
    result: VerificationResult
    decision: PolicyDecision
    stale: bool
    max_snapshot_age_s: int

    @property
    def verified(self) -> bool:
        return self.result.verified and self.decision.eligible

    def checks(self) -> list[dict[str, Any]]:
        out = [{"check": str(o.check), "passed": o.passed, "code": o.code} for o in self.result.outcomes]
        out.append({"check": "policy", "passed": self.decision.eligible, "code": self.decision.code})
        return out

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "verified": self.verified,
            "code": r.code or self.decision.code,
            "checks": self.checks(),
            "claims": jsonable(r.claims) if r.verified else {},
            "format": r.format,
            "credential_type": r.credential_type,
            "issuer": r.issuer,
            "policy": self.decision.to_json(),
            "trust": {"block": r.trust_block, "age_seconds": r.trust_age, "stale": self.stale,
                      "max_age_seconds": self.max_snapshot_age_s},
            "checked_at": r.checked_at,
        }


class AsyncReplayGuard(Protocol):
    async def first_use(self, key: bytes, expires_at: int) -> bool: ...


def unparsable_result(code: str, detail: str, trust: TrustSnapshot, now: int) -> VerificationResult:
    """A verdict for text that is no credential at all: one failed ``format`` check."""
    return VerificationResult(
        format="unknown",
        outcomes=(CheckOutcome(Check.FORMAT, False, code, detail),),
        claims={},
        checked_at=now,
        trust_block=trust.block_number,
        trust_age=trust.age(now),
    )


def _ignore_verdict(verdict: Verdict, policy: str) -> None:
    pass


class VerifierService:
    def __init__(
        self,
        *,
        policies: Mapping[str, Policy],
        trust: TrustView,
        replay: ReplayGuard,
        clock: Clock,
        audience: str | None,
        max_snapshot_age_s: int,
        async_replay: AsyncReplayGuard | None = None,
        on_verdict: Callable[[Verdict, str], None] | None = None,
    ) -> None:
        self.async_replay = async_replay
        # The service counts verdicts for /metrics through this hook, so the library needs no metrics client.
        self._on_verdict = on_verdict or _ignore_verdict
        self.policies = dict(policies)
        self.trust = trust
        self.replay = replay
        self.clock = clock
        self.audience = audience
        self.max_snapshot_age_s = max_snapshot_age_s

    def policy(self, name: str) -> Policy:
        try:
            return self.policies[name]
        except (KeyError, TypeError):
            raise UnknownPolicyError("no policy with that name", policy=str(name)[:64]) from None

    def is_stale(self, snap: TrustSnapshot, now: int) -> bool:
        age = snap.age(now)
        return age is None or age > self.max_snapshot_age_s

    def verify(
        self,
        presentation: str,
        policy_name: str,
        *,
        nonce: str | None = None,
        audience: str | None = None,
        received_programmes: Collection[str | int] = (),
    ) -> Verdict:
        policy = self.policy(policy_name)
        now = self.clock.now()
        snap = self.trust.current()
        pending = self.check(presentation, snap, now, nonce=nonce, audience=audience or self.audience)
        return self._verdict(pending.settle_with(self.replay), policy, policy_name, snap, now,
                             received_programmes=received_programmes)

    async def verify_async(
        self,
        presentation: str,
        policy_name: str,
        *,
        nonce: str | None = None,
        audience: str | None = None,
        received_programmes: Collection[str | int] = (),
    ) -> Verdict:
        """:meth:`verify` for the event loop: the replay cache is asked without blocking the loop (the async Redis
        client, or the synchronous guard, such as the SQL cache's write, in a worker thread)."""
        policy = self.policy(policy_name)
        now = self.clock.now()
        snap = self.trust.current()
        pending = self.check(presentation, snap, now, nonce=nonce, audience=audience or self.audience)
        answers: tuple[bool, ...] = ()  # a tuple, not a list: () + (a,) is (a,) itself, one allocation per key
        for key, expires_at in pending.replay_keys:
            if self.async_replay is not None:
                answers += (await self.async_replay.first_use(key, expires_at),)
            else:
                answers += (await asyncio.to_thread(self.replay.first_use, key, expires_at),)
        return self._verdict(pending.settle(answers), policy, policy_name, snap, now,
                             received_programmes=received_programmes)

    def _verdict(self, result: VerificationResult, policy: Policy, policy_name: str, snap: TrustSnapshot, now: int, *,
                 received_programmes: Collection[str | int]) -> Verdict:
        """credcore's final result through the policy, counted for /metrics."""
        stale = self.is_stale(snap, now)
        decision = evaluate(policy, result, received_programmes=received_programmes, trust_stale=stale)
        verdict = Verdict(result, decision, stale, self.max_snapshot_age_s)
        self._on_verdict(verdict, policy_name)
        return verdict

    def check(self, presentation: str, snap: TrustSnapshot, now: int, *, nonce: str | None,
              audience: str | None) -> PendingVerification:
        """credcore's verdict with replay pending; parse failures become a failed ``format`` check (with no replay
        key) instead of an exception."""
        try:
            return verify_presentation_deferred(presentation, trust=snap, now=now, audience=audience, nonce=nonce)
        except MalformedInputError as exc:
            return PendingVerification(unparsable_result(str(Code.MALFORMED), exc.detail, snap, now))
        except CredError as exc:
            return PendingVerification(unparsable_result(exc.code, exc.detail, snap, now))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, UnicodeError) as exc:
            # A parser bug must not turn hostile input into a 500; log it loudly and refuse the credential.
            log.error("presentation parser raised %s; treated as malformed", type(exc).__name__, exc_info=True)
            return PendingVerification(unparsable_result(str(Code.MALFORMED), "presentation cannot be parsed", snap,
                                                         now))


def verify_qr(
    text: str,
    *,
    trust: TrustSnapshot,
    policy: Policy,
    now: int,
    replay: ReplayGuard,
    nonce: str | None = None,
    audience: str | None = None,
    received_programmes: Collection[str | int] = (),
    max_snapshot_age_s: int = 24 * 3600,
) -> Verdict:
    """The library entry point for an app that embeds the verifier (a merchant app): no service, no I/O.

    ``replay`` is required: the app's own guard, shared by every call and persistent where the app restarts
    (a fresh guard per call would accept the same scanned QR twice).
    """

    class _At:
        def now(self) -> int:
            return now

    svc = VerifierService(policies={policy.name: policy}, trust=StaticTrust(trust),
                          replay=replay, clock=_At(), audience=audience,
                          max_snapshot_age_s=max_snapshot_age_s)
    return svc.verify(text, policy.name, nonce=nonce, audience=audience, received_programmes=received_programmes)
