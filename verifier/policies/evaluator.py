"""Evaluate a :class:`~verifier.policies.model.Policy` against a verification result: pure, no I/O.

The decision lists every reason the policy is not met (not only the first), so a clerk can tell a
resident everything that is missing at once. A result that did not verify is never eligible; the
policy adds its own reasons only for verified credentials, since unverified claims mean nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from credcore.verification import VerificationResult
from verifier.policies.model import Policy, Predicate

__all__ = ["MESSAGES", "PolicyDecision", "PolicyReason", "evaluate"]

#: Bilingual texts for the evaluator's own codes (predicates carry theirs in the policy file).
MESSAGES: Final[Mapping[str, tuple[str, str]]] = {
    "credential_not_verified": ("The credential did not verify", "자격증명 검증에 실패했습니다"),
    "credential_type_not_accepted": ("This kind of credential is not accepted here",
                                     "이 종류의 자격증명은 여기서 받지 않습니다"),
    "issuer_not_accepted": ("The issuer is not accepted for this check", "이 확인에 허용되지 않은 발급기관입니다"),
    "claim_missing": ("A required item was not disclosed", "필요한 항목이 제시되지 않았습니다"),
    "trust_stale": ("Trust data is out of date; connect to refresh", "신뢰 정보가 오래되었습니다. 연결 후 갱신하세요"),
}
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class PolicyReason:
    code: str
    claim: str | None
    message_en: str
    message_ko: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "claim": self.claim, "message": {"en": self.message_en, "ko": self.message_ko}}


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    policy: str
    eligible: bool
    reasons: tuple[PolicyReason, ...]

    @property
    def code(self) -> str | None:
        return self.reasons[0].code if self.reasons else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.policy, "eligible": self.eligible, "code": self.code,
                "reasons": [r.to_json() for r in self.reasons]}


def _reason(code: str, claim: str | None = None) -> PolicyReason:
    en, ko = MESSAGES[code]
    return PolicyReason(code, claim, en, ko)


def _lookup(claims: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = claims
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    # YAML `true` must not equal a claim of 1, nor "1" equal 1: compare type as well as value.
    return type(a) is type(b) and a == b


def _holds(pred: Predicate, value: Any, received: Collection[str]) -> bool:
    op, want = pred.op, pred.value
    if op == "not_received":
        # Programme codes may come as 2026 from a claim and "2026" from a caller's form: compare as text.
        listed = value if isinstance(value, list) else []
        taken = {str(p) for p in received} | {str(p) for p in listed if not isinstance(p, bool)}
        return str(want) not in taken
    if op == "equals":
        return _same(value, want)
    if op == "not_equals":
        return not _same(value, want)
    if op == "in":
        return any(_same(value, w) for w in want)
    if op == "not_in":
        return not any(_same(value, w) for w in want)
    if op in ("at_least", "at_most"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return value >= want if op == "at_least" else value <= want
    if op in ("contains", "not_contains"):
        if not isinstance(value, list):
            return False
        return any(_same(v, want) for v in value) == (op == "contains")
    return False  # unknown operators cannot come out of parse_policy; refuse rather than pass


def evaluate(
    policy: Policy,
    result: VerificationResult,
    *,
    received_programmes: Collection[str | int] = (),
    trust_stale: bool = False,
) -> PolicyDecision:
    """Decide whether ``result`` satisfies ``policy``.

    Args:
        received_programmes: programmes the caller knows the holder already received (for ``not_received``).
        trust_stale: the trust snapshot is older than the verifier's staleness bound; the policy's
            ``stale_trust`` says whether that refuses the credential.
    """
    if not result.verified:
        return PolicyDecision(policy.name, False, (_reason("credential_not_verified"),))
    reasons: list[PolicyReason] = []
    if trust_stale and policy.stale_trust == "refuse":
        reasons.append(_reason("trust_stale"))
    if result.credential_type not in policy.credential_types:
        reasons.append(_reason("credential_type_not_accepted"))
    if policy.accepted_issuers and result.issuer not in policy.accepted_issuers:
        reasons.append(_reason("issuer_not_accepted"))
    claims = result.claims
    missing = {c for c in policy.required_claims if _lookup(claims, tuple(c.split("/"))) is _MISSING}
    reasons.extend(_reason("claim_missing", c) for c in policy.required_claims if c in missing)
    for pred in policy.predicates:
        value = _lookup(claims, pred.path) if pred.claim else None
        if value is _MISSING:
            if pred.op == "not_received":
                value = None  # no list claim disclosed: only the caller's set decides
            elif pred.claim in missing:
                continue  # already reported as missing
            else:
                reasons.append(_reason("claim_missing", pred.claim))
                missing.add(pred.claim)
                continue
        if not _holds(pred, value, received_programmes):
            reasons.append(PolicyReason(pred.code, pred.claim or None, pred.message_en, pred.message_ko))
    return PolicyDecision(policy.name, not reasons, tuple(reasons))
