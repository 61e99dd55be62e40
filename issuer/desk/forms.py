"""Forms from a credential type's JSON Schema: one field per claim, values typed in as text, checked per field.

The same reading serves the issue form and the CSV upload: text becomes the schema's JSON type (integer,
boolean, array of integers as comma-separated numbers, strings as typed), an empty optional field is left
out, and the type's own validator (issuer/types.py) decides. Every failure names the field and the rule,
never the value. Labels and help come from the schema's ``x-label`` / ``x-help`` annotations, else the
claim name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from issuer.types import CredentialType

__all__ = ["Field", "RowErrors", "fields_of", "parse_row", "type_label"]

_TRUE = {"true", "yes", "y", "1", "예", "o", "on"}
_FALSE = {"false", "no", "n", "0", "아니오", "x", "off"}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label_ko: str
    label_en: str
    help_ko: str
    help_en: str
    kind: str  # text, date, integer, boolean, integers, choice
    required: bool
    attrs: Mapping[str, Any]  # HTML constraint attributes (pattern, minlength, maxlength, min, max)
    choices: tuple[str, ...] = ()


def type_label(ctype: CredentialType, lang: str) -> str:
    display = ctype.display or {}
    label = display.get(lang) if isinstance(display, Mapping) else None
    return str(label) if label else ctype.name


def fields_of(ctype: CredentialType) -> list[Field]:
    schema = ctype.schema
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        label, help_ = prop.get("x-label") or {}, prop.get("x-help") or {}
        kind, attrs = _kind(prop)
        out.append(Field(name, str(label.get("ko", name)), str(label.get("en", name)), str(help_.get("ko", "")),
                         str(help_.get("en", "")), kind, name in required, attrs,
                         tuple(str(c) for c in prop.get("enum", ()))))
    return out


def _kind(prop: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    t = prop.get("type")
    attrs: dict[str, Any] = {}
    if "enum" in prop:
        return "choice", attrs
    if t == "boolean":
        return "boolean", attrs
    if t == "integer":
        attrs.update({k: prop[j] for k, j in (("min", "minimum"), ("max", "maximum")) if j in prop})
        return "integer", attrs
    if t == "array":
        return "integers", attrs
    if prop.get("format") == "date":
        return "date", attrs
    attrs.update({k: prop[j] for k, j in (("minlength", "minLength"), ("maxlength", "maxLength")) if j in prop})
    if "pattern" in prop:  # HTML's pattern is anchored and uses the v flag; JSON Schema's ^...$ still works there
        attrs["pattern"] = str(prop["pattern"]).removeprefix("^").removesuffix("$")
    return "text", attrs


class RowErrors(dict[str, str]):
    """Field name -> the rule it fails (``required``, ``pattern``, ``not_a_number`` ...); empty when valid."""


def parse_row(ctype: CredentialType, values: Mapping[str, str]) -> tuple[dict[str, Any], RowErrors]:
    """Text values -> claims (typed per the schema) and the errors per field; unknown fields are errors."""
    props = ctype.schema["properties"]
    claims: dict[str, Any] = {}
    errors = RowErrors()
    for name, raw in values.items():
        if name not in props:
            errors[name] = "unknown_field"
            continue
        text = (raw or "").strip()
        if text == "":
            continue
        try:
            claims[name] = _typed(props[name], text)
        except ValueError as exc:
            errors[name] = str(exc)
    for err in _validator(ctype).iter_errors(claims):
        if err.validator == "required":
            for missing in set(ctype.schema.get("required", ())) - set(claims):
                errors.setdefault(missing, "required")
        elif err.absolute_path:
            errors.setdefault(str(err.absolute_path[0]), str(err.validator))
        else:
            errors.setdefault("(claims)", str(err.validator))
    return claims, errors


_VALIDATORS: dict[int, tuple[CredentialType, Any]] = {}


def _validator(ctype: CredentialType) -> Any:
    found = _VALIDATORS.get(id(ctype))
    if found is None or found[0] is not ctype:  # a validator per type: building one costs more than a row
        found = (ctype, jsonschema.Draft202012Validator(ctype.schema, format_checker=jsonschema.FormatChecker()))
        _VALIDATORS[id(ctype)] = found
    return found[1]


def _typed(prop: Mapping[str, Any], text: str) -> Any:
    t = prop.get("type")
    if t == "integer":
        try:
            return int(text.replace(",", ""))
        except ValueError:
            raise ValueError("not_a_number") from None
    if t == "boolean":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("not_yes_or_no")
    if t == "array":
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ValueError("not_a_number") from None
    return text
