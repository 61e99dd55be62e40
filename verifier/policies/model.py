"""Policy data: the YAML shape, parsed strictly into frozen dataclasses.

A policy file looks like::

    name: age-over-19
    title: {en: Age 19 or over, ko: 만 19세 이상}
    credential_types: [urn:civicpass:ResidentCredential:1]
    accepted_issuers: []          # empty: any issuer the chain accredits for the type
    required_claims: [age_over_19]
    predicates:
      - claim: age_over_19
        equals: true
        code: age_below_minimum
        message: {en: Not 19 or over, ko: 만 19세 미만입니다}
    stale_trust: refuse           # or accept: what to do beyond the snapshot's staleness bound

Each predicate has exactly one operator: ``equals``, ``not_equals``, ``in``, ``not_in``, ``at_least``,
``at_most``, ``contains``, ``not_contains`` (for list claims) or ``not_received`` (a programme id that must
not be in the set of programmes the caller says the holder already received). Claim names may be paths
(``address/locality``). Unknown keys are refused so a typo cannot silently weaken a policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from credcore.errors import MalformedInputError

__all__ = ["OPERATORS", "Policy", "Predicate", "load_policies", "parse_policy"]

OPERATORS: Final = ("equals", "not_equals", "in", "not_in", "at_least", "at_most", "contains", "not_contains",
                    "not_received")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_POLICY_KEYS: Final = frozenset({"name", "title", "credential_types", "accepted_issuers", "required_claims",
                                 "predicates", "stale_trust"})
_PREDICATE_KEYS: Final = frozenset({"claim", "code", "message", *OPERATORS})
#: Shipped with the package; a deployment adds its own directory through the settings.
BUILTIN_DIR: Final = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Predicate:
    claim: str
    op: str
    value: Any
    code: str
    message_en: str
    message_ko: str

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.claim.split("/"))


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    title_en: str
    title_ko: str
    credential_types: tuple[str, ...]
    accepted_issuers: tuple[str, ...] = ()
    required_claims: tuple[str, ...] = ()
    predicates: tuple[Predicate, ...] = ()
    stale_trust: Literal["refuse", "accept"] = "refuse"

    def claims_needed(self) -> tuple[str, ...]:
        """Every claim the policy reads, in order and without repeats (for the OpenID4VP DCQL query)."""
        seen: dict[str, None] = dict.fromkeys(self.required_claims)
        seen.update(dict.fromkeys(p.claim for p in self.predicates if p.claim))
        return tuple(seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": {"en": self.title_en, "ko": self.title_ko},
            "credential_types": list(self.credential_types),
            "accepted_issuers": list(self.accepted_issuers),
            "required_claims": list(self.required_claims),
            "stale_trust": self.stale_trust,
        }


def _strings(obj: Any, what: str) -> tuple[str, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list) or not all(isinstance(s, str) and s for s in obj):
        raise MalformedInputError(f"policy {what} must be a list of non-empty strings")
    return tuple(obj)


def _bilingual(obj: Any, what: str, default: tuple[str, str]) -> tuple[str, str]:
    if obj is None:
        return default
    if not isinstance(obj, Mapping) or set(obj) - {"en", "ko"}:
        raise MalformedInputError(f"policy {what} must be a mapping with 'en' and 'ko'")
    en, ko = obj.get("en", default[0]), obj.get("ko", default[1])
    if not isinstance(en, str) or not isinstance(ko, str):
        raise MalformedInputError(f"policy {what} texts must be strings")
    return en, ko


def _predicate(obj: Any) -> Predicate:
    if not isinstance(obj, Mapping) or set(obj) - _PREDICATE_KEYS:
        raise MalformedInputError("policy predicate has unknown keys")
    ops = [op for op in OPERATORS if op in obj]
    if len(ops) != 1:
        raise MalformedInputError("policy predicate needs exactly one operator")
    op, value = ops[0], obj[ops[0]]
    # not_received may also name a list claim (programmes the credential says were received); it is optional.
    claim = obj.get("claim", "" if op == "not_received" else None)
    if not isinstance(claim, str) or (not claim and op != "not_received"):
        raise MalformedInputError("policy predicate needs a claim name")
    if op in ("in", "not_in") and not isinstance(value, list):
        raise MalformedInputError(f"policy predicate '{op}' needs a list")
    if op in ("at_least", "at_most") and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise MalformedInputError(f"policy predicate '{op}' needs a number")
    if op == "not_received" and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise MalformedInputError("policy predicate 'not_received' needs a programme code or name")
    default_code = "programme_already_received" if op == "not_received" else "claim_not_satisfied"
    code = obj.get("code", default_code)
    if not isinstance(code, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", code):
        raise MalformedInputError("policy predicate code must be snake_case")
    en, ko = _bilingual(obj.get("message"), "predicate message",
                        (f"Condition on '{claim or value}' not met", f"'{claim or value}' 조건을 충족하지 않습니다"))
    return Predicate(claim, op, value, code, en, ko)


def parse_policy(data: Any) -> Policy:
    """Build a :class:`Policy` from parsed YAML/JSON; raises :class:`MalformedInputError` on any mistake."""
    if not isinstance(data, Mapping):
        raise MalformedInputError("policy must be a mapping")
    if unknown := set(data) - _POLICY_KEYS:
        raise MalformedInputError(f"policy has unknown keys: {sorted(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MalformedInputError("policy name must be lower-case letters, digits and '-'")
    types = _strings(data.get("credential_types"), "credential_types")
    if not types:
        raise MalformedInputError("policy needs at least one credential type")
    preds = data.get("predicates") or []
    if not isinstance(preds, list):
        raise MalformedInputError("policy predicates must be a list")
    stale = data.get("stale_trust", "refuse")
    if stale not in ("refuse", "accept"):
        raise MalformedInputError("policy stale_trust must be 'refuse' or 'accept'")
    en, ko = _bilingual(data.get("title"), "title", (name, name))
    return Policy(
        name=name,
        title_en=en,
        title_ko=ko,
        credential_types=types,
        accepted_issuers=_strings(data.get("accepted_issuers"), "accepted_issuers"),
        required_claims=_strings(data.get("required_claims"), "required_claims"),
        predicates=tuple(_predicate(p) for p in preds),
        stale_trust=stale,
    )


def load_policies(*dirs: Path) -> dict[str, Policy]:
    """Read every ``*.yaml`` in the built-in directory, then in ``dirs`` (later files replace earlier)."""
    found: dict[str, Policy] = {}
    for d in (BUILTIN_DIR, *dirs):
        for path in sorted(Path(d).glob("*.yaml")):
            try:
                policy = parse_policy(yaml.safe_load(path.read_text(encoding="utf-8")))
            except yaml.YAMLError:
                raise MalformedInputError(f"policy file {path.name} is not YAML") from None
            if policy.name != path.stem:
                raise MalformedInputError(f"policy file {path.name} names a different policy")
            found[policy.name] = policy
    return found
