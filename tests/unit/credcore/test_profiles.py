"""CP1 profiles: the registry, claim encoding by integer key, and the business number digest."""

from __future__ import annotations

import hashlib

import pytest

from credcore.errors import MalformedInputError
from credcore.profiles import (
    PROFILES,
    PROFILES_BY_ID,
    ClaimSpec,
    ClaimType,
    Profile,
    business_number_digest,
)

RESIDENT = {"city": 26000, "district": 26350, "age_over_19": True}
MERCHANT = {
    "business_number_digest": business_number_digest("617-81-12345"),
    "market": 26110003,
    "small_business": False,
    "programmes": [2, 9],
}


def test_registry_names_ids_and_types():
    assert set(PROFILES) == {"resident-basic", "merchant-eligibility"}
    assert PROFILES["resident-basic"].vct == "urn:civicpass:ResidentCredential:1"
    assert PROFILES["merchant-eligibility"].vct == "urn:civicpass:MerchantCredential:1"
    assert {p.id: p.name for p in PROFILES_BY_ID.values()} == {1: "resident-basic", 2: "merchant-eligibility"}
    assert list(PROFILES["resident-basic"].claims) == ["city", "district", "age_over_19"]
    assert list(PROFILES["merchant-eligibility"].claims) == [
        "business_number_digest",
        "market",
        "small_business",
        "programmes",
    ]


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        PROFILES["x"] = PROFILES["resident-basic"]  # type: ignore[index]
    with pytest.raises(TypeError):
        PROFILES["resident-basic"].claims["city"] = None  # type: ignore[index]


@pytest.mark.parametrize(("name", "claims"), [("resident-basic", RESIDENT), ("merchant-eligibility", MERCHANT)])
def test_claims_round_trip_through_integer_keys(name, claims):
    profile = PROFILES[name]
    encoded = profile.encode_claims(claims)
    assert set(encoded) == {spec.key for spec in profile.claims.values()}
    assert profile.decode_claims(encoded) == claims


def test_programmes_are_a_set_in_one_canonical_order():
    encoded = PROFILES["merchant-eligibility"].encode_claims({**MERCHANT, "programmes": (9, 2, 9)})
    assert encoded[4] == [2, 9]
    with pytest.raises(MalformedInputError):
        PROFILES["merchant-eligibility"].decode_claims({**encoded, 4: [9, 2]})  # a verifier sees one order only


@pytest.mark.parametrize(
    "change",
    [
        {"city": True},  # a flag is not a code
        {"city": -1},
        {"city": 100_000},
        {"city": "26000"},
        {"age_over_19": 1},
        {"age_over_19": None},
        {"extra": 1},
    ],
)
def test_resident_claims_of_the_wrong_type_are_refused(change):
    with pytest.raises(MalformedInputError):
        PROFILES["resident-basic"].encode_claims({**RESIDENT, **change})


def test_missing_claims_are_refused():
    with pytest.raises(MalformedInputError):
        PROFILES["resident-basic"].encode_claims({"city": 26000, "district": 26350})


@pytest.mark.parametrize(
    "change",
    [
        {"business_number_digest": b"\x00" * 15},
        {"business_number_digest": "617-81-12345"},
        {"market": 2**32},
        {"small_business": "yes"},
        {"programmes": list(range(9))},
        {"programmes": [0x10000]},
        {"programmes": [True]},
        {"programmes": 5},
    ],
)
def test_merchant_claims_of_the_wrong_type_are_refused(change):
    with pytest.raises(MalformedInputError):
        PROFILES["merchant-eligibility"].encode_claims({**MERCHANT, **change})


@pytest.mark.parametrize("raw", [None, [], {1: 26000, 2: 26350}, {1: 26000, 2: 26350, 3: True, 4: 0}])
def test_decoding_refuses_maps_that_do_not_fit(raw):
    with pytest.raises(MalformedInputError):
        PROFILES["resident-basic"].decode_claims(raw)


def test_claim_keys_must_be_distinct_single_byte_integers():
    spec = ClaimSpec("a", 1, ClaimType.BOOL, "")
    with pytest.raises(ValueError):
        Profile("p", 9, "urn:x", {"a": spec, "b": ClaimSpec("b", 1, ClaimType.BOOL, "")})
    with pytest.raises(ValueError):
        Profile("p", 9, "urn:x", {"a": ClaimSpec("a", 24, ClaimType.BOOL, "")})


def test_business_number_digest_is_domain_separated_truncated_sha256():
    digest = business_number_digest("617-81-12345")
    assert digest == business_number_digest("6178112345")
    assert digest == hashlib.sha256(b"civicpass/business-number/v1:6178112345").digest()[:16]
    assert digest != business_number_digest("617-81-12346")


@pytest.mark.parametrize("number", ["617-81-1234", "61781123456", "617 81 12345", "٦١٧٨١١٢٣٤٥", "", 6178112345])
def test_business_number_must_be_ten_ascii_digits(number):
    with pytest.raises(MalformedInputError):
        business_number_digest(number)
