"""Credential types as data: one YAML (or JSON) file per type, plus types an operator adds at run time.

A type names its ``vct``, a JSON Schema (Draft 2020-12, formats checked) for the claims a clerk types in,
which claims are selectively disclosable, its compact ``CP1:`` profile (or none) with how each profile
claim is computed from the credential's claims (copied, looked up in a code table, or digested: CP1
carries administrative codes, see credcore/profiles.py), its validity, and derived claims computed at
issuance. The one derivation rule so far is ``age_at_least`` (from a birth
date and the issuer's clock, in the city's time zone), so a clerk can never type in an age flag.
A city adds a type by dropping a file into ``types_dir`` or through ``POST /v1/types``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import yaml

from credcore.errors import MalformedInputError, NotFoundError, RefusedError
from credcore.profiles import PROFILES, business_number_digest

__all__ = ["ClaimsInvalidError", "ClaimsRefusedError", "CredentialType", "TypeRegistry", "parse_type"]

_RESERVED = frozenset({"iss", "iat", "exp", "nbf", "vct", "cnf", "status", "sub", "_sd", "_sd_alg", "..."})
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_RULES = frozenset({"age_at_least"})


class ClaimsInvalidError(MalformedInputError):
    code = "claims_invalid"
    title = "Claims do not match the credential type's schema"


class ClaimsRefusedError(RefusedError):
    """Claims that fit the schema but cannot be issued: a birth date in the future, or a value one of the
    type's formats (the CP1 profile's administrative codes) cannot carry. Names the claim, never its value."""

    code = "claims_refused"
    title = "Claims cannot be issued"


class TypeDefinitionError(MalformedInputError):
    code = "type_definition_invalid"
    title = "Credential type definition is invalid"


@dataclass(frozen=True, slots=True)
class CredentialType:
    id: str
    vct: str
    name: str
    schema: Mapping[str, Any]
    disclosable: tuple[str, ...]
    cp1_profile: str | None
    validity_days: int
    cp1_claims: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    derived: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    display: Mapping[str, Any] = field(default_factory=dict)

    @property
    def claim_names(self) -> tuple[str, ...]:
        return (*self.schema.get("properties", {}), *self.derived)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vct": self.vct,
            "name": self.name,
            "schema": dict(self.schema),
            "disclosable": list(self.disclosable),
            "cp1": {"profile": self.cp1_profile, "claims": dict(self.cp1_claims)} if self.cp1_profile else None,
            "validity_days": self.validity_days,
            "derived": {k: dict(v) for k, v in self.derived.items()},
        }

    def prepare_claims(self, claims: object, *, now: int, tz: str) -> dict[str, Any]:
        """Validate the clerk's claims against the schema and add derived claims. Raises ClaimsInvalidError
        (schema) or ClaimsRefusedError (a birth date in the future, a value a format of the type cannot carry).

        The error names the failing claim path and rule, never the value.
        """
        if not isinstance(claims, dict):
            raise ClaimsInvalidError("claims must be a JSON object")
        error = jsonschema.exceptions.best_match(_validator(self).iter_errors(claims))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(claims)"
            raise ClaimsInvalidError(f"claim {where} fails the '{error.validator}' rule of the schema")
        return self.with_derived(claims, now=now, tz=tz)

    def with_derived(self, claims: Mapping[str, Any], *, now: int, tz: str) -> dict[str, Any]:
        """The claims plus the derived ones, computed at ``now``; for claims already validated against the schema."""
        out = dict(claims)
        today = dt.datetime.fromtimestamp(now, ZoneInfo(tz)).date()
        for name in self._birth_dates():
            if isinstance(out.get(name), str):
                _check_birth_date(name, out[name], today)
        for name, rule in self.derived.items():
            out[name] = _derive(rule, out, today)
        if self.cp1_profile is not None:
            self._check_profile(out)
        return out

    def _birth_dates(self) -> set[str]:
        return {"birth_date"} | {r["from"] for r in self.derived.values() if r.get("rule") == "age_at_least"}

    def _check_profile(self, claims: Mapping[str, Any]) -> None:
        """Every claim the CP1 form carries must encode, so an offer never fails later for its compact copy."""
        source = {name: str(rule["from"]) for name, rule in self.cp1_claims.items()}
        try:
            PROFILES[str(self.cp1_profile)].encode_claims(self.profile_claims(claims))
        except ClaimsInvalidError as exc:  # no code for the value in the type's table
            raise ClaimsRefusedError(exc.detail, **exc.context) from None
        except MalformedInputError as exc:
            name = str(exc.context.get("claim", ""))
            where = source.get(name, name or "(claims)")
            raise ClaimsRefusedError(f"claim {where} cannot be encoded as the compact credential's {name or 'claims'}",
                                     claim=where) from None

    def profile_claims(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """The CP1 profile's claims computed from the (prepared) credential claims. Raises ClaimsInvalidError."""
        return {name: _profile_value(name, rule, claims) for name, rule in self.cp1_claims.items()}


_MISSING = object()
_VALIDATORS: dict[int, Any] = {}


def _validator(t: CredentialType) -> Any:
    """One compiled validator per type (building one costs more than validating a claim set)."""
    found = _VALIDATORS.get(id(t))
    if found is None or found[0] is not t:
        found = (t, jsonschema.Draft202012Validator(t.schema, format_checker=jsonschema.FormatChecker()))
        _VALIDATORS[id(t)] = found
    return found[1]


def _profile_value(name: str, rule: Mapping[str, Any], claims: Mapping[str, Any]) -> Any:
    value = claims.get(rule["from"], _MISSING)
    if value is _MISSING:
        if "default" in rule:
            return rule["default"]
        raise ClaimsInvalidError(f"claim {rule['from']} is needed for the compact credential")
    if rule.get("rule") == "business_number_digest":
        return business_number_digest(value)
    codes = rule.get("codes")
    if codes is None:
        return value
    if value in codes:
        return codes[value]
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        return int(value)
    if "default" in rule:
        return rule["default"]
    raise ClaimsInvalidError(f"claim {rule['from']} has no code for the compact credential's {name}")


def _derive(rule: Mapping[str, Any], claims: Mapping[str, Any], today: dt.date) -> Any:
    if rule["rule"] == "age_at_least":
        born = dt.date.fromisoformat(claims[rule["from"]])
        years = int(rule["years"])
        birthday = _add_years(born, years)
        return today >= birthday
    raise TypeDefinitionError("unknown derivation rule")  # pragma: no cover - rejected by parse_type


#: Older than this at issuance is taken for a typing error (the oldest verified person lived 122 years).
_MAX_AGE_YEARS = 130


def _check_birth_date(name: str, value: str, today: dt.date) -> None:
    try:
        born = dt.date.fromisoformat(value)
    except ValueError:
        raise ClaimsInvalidError(f"claim {name} is not a date", claim=name) from None
    if born > today:
        raise ClaimsRefusedError(f"claim {name} is in the future", claim=name)
    if born < _add_years(today, -_MAX_AGE_YEARS):
        raise ClaimsRefusedError(f"claim {name} is more than {_MAX_AGE_YEARS} years ago", claim=name)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the birthday falls on 1 March in common years
        return dt.date(day.year + years, 3, 1)


def parse_type(data: object) -> CredentialType:
    """Build a :class:`CredentialType` from a parsed YAML/JSON document, checking it thoroughly."""
    if not isinstance(data, dict):
        raise TypeDefinitionError("type definition must be an object")
    try:
        type_id, vct, name, schema = data["id"], data["vct"], data["name"], data["schema"]
        disclosable = tuple(data.get("disclosable", ()))
        derived = dict(data.get("derived") or {})
        cp1 = data.get("cp1") or {}
        profile = cp1.get("profile")
        cp1_claims = dict(cp1.get("claims") or {})
        validity = int(data.get("validity_days", 365))
    except (KeyError, TypeError, ValueError):
        raise TypeDefinitionError("type needs id, vct, name and schema") from None
    if not isinstance(type_id, str) or not _ID.fullmatch(type_id):
        raise TypeDefinitionError("type id must be an identifier")
    if not isinstance(vct, str) or not vct or len(vct) > 200 or not isinstance(name, str):
        raise TypeDefinitionError("vct and name must be strings (vct up to 200 characters)")
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise TypeDefinitionError("schema must describe an object with properties")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError:
        raise TypeDefinitionError("schema is not a valid JSON Schema") from None
    names = set(schema["properties"]) | set(derived)
    if names & _RESERVED:
        raise TypeDefinitionError("claims use a reserved name")
    if not set(disclosable) <= names:
        raise TypeDefinitionError("a disclosable claim is not in the schema")
    for rule in derived.values():
        if not isinstance(rule, dict) or rule.get("rule") not in _RULES or rule.get("from") not in schema["properties"]:
            raise TypeDefinitionError("derived claim has an unknown rule or source")
    if profile is not None:
        spec = PROFILES.get(profile) if isinstance(profile, str) else None
        if spec is None or set(cp1_claims) != set(spec.claims) or spec.vct != vct:
            raise TypeDefinitionError("cp1 must name a known profile of this vct and map each of its claims")
        for rule in cp1_claims.values():
            if not isinstance(rule, dict) or rule.get("from") not in names:
                raise TypeDefinitionError("a cp1 claim must come 'from' a claim of the type")
            if rule.get("rule", "business_number_digest") != "business_number_digest":
                raise TypeDefinitionError("unknown cp1 claim rule")
    if not 1 <= validity <= 3660:
        raise TypeDefinitionError("validity_days out of range")
    return CredentialType(
        type_id, vct, name, schema, disclosable, profile, validity, cp1_claims, derived, data.get("display", {})
    )


def load_file(path: Path) -> CredentialType:
    text = path.read_text(encoding="utf-8")
    return parse_type(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))


class TypeRegistry:
    """Every credential type this issuer offers, by ``vct`` and by configuration id."""

    def __init__(self, types: Iterable[CredentialType] = ()) -> None:
        self._by_vct: dict[str, CredentialType] = {}
        for t in types:
            self.add(t)

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> TypeRegistry:
        packaged = files("issuer") / "types"
        paths = sorted(Path(str(p)) for p in packaged.iterdir() if p.name.endswith((".yaml", ".json")))
        if extra_dir is not None:
            paths += sorted(p for p in Path(extra_dir).iterdir() if p.suffix in {".yaml", ".yml", ".json"})
        return cls(load_file(p) for p in paths)

    def add(self, t: CredentialType) -> None:
        if any(o.id == t.id and o.vct != t.vct for o in self._by_vct.values()):
            raise TypeDefinitionError("another type already uses this id")
        self._by_vct[t.vct] = t

    def get(self, vct: str) -> CredentialType:
        t = self._by_vct.get(vct)
        if t is None:
            raise NotFoundError("unknown credential type")
        return t

    def by_id(self, type_id: str) -> CredentialType | None:
        return next((t for t in self._by_vct.values() if t.id == type_id), None)

    def __iter__(self) -> Any:
        return iter(sorted(self._by_vct.values(), key=lambda t: t.id))

    def to_mapping(self) -> Mapping[str, CredentialType]:
        return dict(self._by_vct)
