"""CP1 profiles as data: which claims one compact QR credential carries, under which integer keys.

A ``CP1:`` credential carries exactly one profile: the minimum claims for one check at a counter or a
merchant app (docs/architecture.md, "Credential formats"). Each profile names the SD-JWT VC type (``vct``) it
is a compact form of, so trust rules (issuer accredited for the type) are the same for both formats. The
issuer service maps its credential types to these profiles; credcore only encodes and checks them.

Why integer codes rather than names: the whole presentation must fit in 300 bytes before Base45 (QR
version 13-M). "부산광역시" is 15 bytes of UTF-8 and "해운대구" 12; their 5-digit administrative codes
(행정표준코드 style: 시도 code x 1000 for a city, 시군구 code for a district, e.g. 부산광역시 = 26000,
해운대구 = 26350) are 3 bytes each in CBOR, and they are what city systems match on anyway. Market and
programme codes are the city's own registry numbers for the same reason.

The business registration number (사업자등록번호) is carried as a digest so the QR does not spell it out
to bystanders. It is *not* secret: there are only 10^10 numbers, so anyone can enumerate them. The digest is
the first 16 bytes of SHA-256 over a domain-separated string: 128 bits is far beyond what matching among
10^10 values needs, and 16 bytes more would cost the budget for nothing. See :func:`business_number_digest`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from credcore.errors import MalformedInputError

__all__ = [
    "BUSINESS_NUMBER_DIGEST_BYTES",
    "PROFILES",
    "PROFILES_BY_ID",
    "ClaimSpec",
    "ClaimType",
    "Profile",
    "business_number_digest",
]

BUSINESS_NUMBER_DIGEST_BYTES: Final = 16
_BRN = re.compile(r"[0-9]{3}-?[0-9]{2}-?[0-9]{5}")
_U32: Final = 2**32 - 1


class ClaimType(StrEnum):
    UINT = "uint"  # 0 <= value <= ClaimSpec.max_value
    BOOL = "bool"
    BYTES = "bytes"  # exactly ClaimSpec.length bytes
    UINT_LIST = "uint_list"  # at most ClaimSpec.max_items distinct values, each <= max_value, sorted


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One claim of a profile: its name (as in the SD-JWT VC), its CBOR map key and its type."""

    name: str
    key: int  # 1..23 so it encodes in one CBOR byte
    type: ClaimType
    description: str
    max_value: int = _U32
    length: int = 0
    max_items: int = 0

    def check(self, value: object) -> None:
        """Raise :class:`MalformedInputError` unless ``value`` has this claim's type and bounds."""
        # `type(x) is int` on purpose: bool is an int subclass, and a flag must not pass as a code.
        kind = self.type
        if kind is _UINT:
            ok = type(value) is int and 0 <= value <= self.max_value
        elif kind is _BOOL:
            ok = type(value) is bool
        elif kind is _BYTES:
            ok = type(value) is bytes and len(value) == self.length
        else:
            ok = type(value) is list and len(value) <= self.max_items and _ascending_uints(value, self.max_value)
        if not ok:
            raise MalformedInputError(f"claim {self.name!r} does not have type {self.type} within bounds",
                                      claim=self.name)


# Module constants: an enum member looked up on its class costs more than the check itself (Python 3.11).
_UINT: Final = ClaimType.UINT
_BOOL: Final = ClaimType.BOOL
_BYTES: Final = ClaimType.BYTES


def _ascending_uints(values: list[Any], max_value: int) -> bool:
    """Every item an int in 0..max_value, each greater than the one before (a loop: this runs per verification)."""
    previous = -1
    for value in values:
        if type(value) is not int or not previous < value <= max_value:
            return False
        previous = value
    return True


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """A CP1 profile: wire id, the ``vct`` it stands for, and its claims by name (in key order)."""

    name: str
    id: int
    vct: str
    claims: Mapping[str, ClaimSpec]
    _by_key: Mapping[int, ClaimSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_key = {spec.key: spec for spec in self.claims.values()}
        if len(by_key) != len(self.claims) or not all(1 <= k <= 23 for k in by_key):
            raise ValueError(f"profile {self.name!r}: claim keys must be distinct and in 1..23")
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    def encode_claims(self, claims: Mapping[str, Any]) -> dict[int, Any]:
        """Claims by name -> the CBOR map by key. Every claim of the profile is required; no others allowed."""
        if set(claims) != set(self.claims):
            raise MalformedInputError(f"claims do not match profile {self.name!r}")
        out: dict[int, Any] = {}
        for name, spec in self.claims.items():
            value = claims[name]
            if spec.type is ClaimType.UINT_LIST and isinstance(value, list | tuple | set | frozenset):
                # A set of codes: one canonical encoding (ascending, no repeats) whatever order it came in.
                items = list(value)
                value = sorted(set(items)) if all(type(v) is int for v in items) else items
            spec.check(value)
            out[spec.key] = value
        return out

    def decode_claims(self, raw: object) -> dict[str, Any]:
        """The CBOR map by key -> claims by name; raises :class:`MalformedInputError` if it does not fit."""
        if type(raw) is not dict or raw.keys() != self._by_key.keys():  # compared as sets, none built
            raise MalformedInputError(f"claims do not match profile {self.name!r}")
        out: dict[str, Any] = {}
        for key, spec in self._by_key.items():
            value = raw[key]
            spec.check(value)
            out[spec.name] = value
        return out


def _profile(name: str, pid: int, vct: str, *specs: ClaimSpec) -> Profile:
    return Profile(name, pid, vct, MappingProxyType({s.name: s for s in sorted(specs, key=lambda s: s.key)}))


RESIDENT_BASIC: Final = _profile(
    "resident-basic",
    1,
    "urn:civicpass:ResidentCredential:1",
    ClaimSpec("city", 1, ClaimType.UINT, "시도 code x 1000, e.g. 부산광역시 = 26000", max_value=99_999),
    ClaimSpec("district", 2, ClaimType.UINT, "5-digit 시군구 code, e.g. 해운대구 = 26350", max_value=99_999),
    ClaimSpec("age_over_19", 3, ClaimType.BOOL, "holder is 19 or older (Korean age of majority)"),
)

MERCHANT_ELIGIBILITY: Final = _profile(
    "merchant-eligibility",
    2,
    "urn:civicpass:MerchantCredential:1",
    ClaimSpec(
        "business_number_digest",
        1,
        ClaimType.BYTES,
        "business_number_digest(사업자등록번호), 16 bytes",
        length=BUSINESS_NUMBER_DIGEST_BYTES,
    ),
    ClaimSpec("market", 2, ClaimType.UINT, "traditional market code in the city's registry; 0 = none"),
    ClaimSpec("small_business", 3, ClaimType.BOOL, "confirmed small business (소상공인)"),
    ClaimSpec(
        "programmes",
        4,
        ClaimType.UINT_LIST,
        "codes of the support programmes the merchant takes part in, ascending",
        max_value=0xFFFF,
        max_items=8,
    ),
)

#: Profiles by name. The names are what the issuer service and the wallet use.
PROFILES: Final[Mapping[str, Profile]] = MappingProxyType({p.name: p for p in (RESIDENT_BASIC, MERCHANT_ELIGIBILITY)})
#: Profiles by the integer id a CP1 credential carries.
PROFILES_BY_ID: Final[Mapping[int, Profile]] = MappingProxyType({p.id: p for p in PROFILES.values()})


def business_number_digest(business_number: str) -> bytes:
    """The ``business_number_digest`` claim for a 10-digit 사업자등록번호 (``"123-45-67890"`` or digits only).

    Domain-separated and truncated SHA-256. Matching only, not hiding: see the module docstring.
    """
    if not isinstance(business_number, str) or _BRN.fullmatch(business_number) is None:
        raise MalformedInputError("business number must be 10 digits (123-45-67890)")
    digits = business_number.replace("-", "")
    return hashlib.sha256(b"civicpass/business-number/v1:" + digits.encode("ascii")).digest()[:16]
