"""Disclosures (RFC 9901 §4.2) and the unpacking rules of §7.1, each rejection with its code."""

from __future__ import annotations

import pytest

from credcore._b64 import b64u_encode
from credcore.disclosure import (
    MAX_DEPTH,
    Disclosure,
    DisclosureCheckError,
    digest_of,
    make_disclosure,
    parse_disclosure,
    unpack,
)
from credcore.errors import MalformedDisclosureError
from credcore.verification import Code


def _by_digest(*disclosures: Disclosure) -> dict[str, Disclosure]:
    return {d.digest: d for d in disclosures}


def _code(payload: dict[str, object], *disclosures: Disclosure) -> str:
    with pytest.raises(DisclosureCheckError) as err:
        unpack(payload, _by_digest(*disclosures))
    return err.value.code


# --- published examples --------------------------------------------------------------------------------
def test_rfc9901_object_property_example_digest() -> None:
    # RFC 9901 §4.2.1 / §4.2.3: salt "_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius"
    d = parse_disclosure("WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0")
    assert (d.salt, d.name, d.value) == ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert d.digest == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"


def test_rfc9901_array_element_example_digest() -> None:
    # RFC 9901 §4.2.2 / §4.2.4.2: salt "lklxF5jMYlGTPUovMNIvCA", element "FR"
    d = parse_disclosure("WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0")
    assert (d.name, d.value) == (None, "FR")
    assert d.digest == "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"


# --- making and parsing --------------------------------------------------------------------------------
def test_make_then_parse_round_trips_property_and_element() -> None:
    for name, value in (("address", {"street": "1 Main", "n": [1, 2.5, None, True]}), (None, "KR")):
        made = make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", name, value)
        parsed = parse_disclosure(made.encoded)
        assert (parsed.name, parsed.value, parsed.digest) == (name, value, made.digest)
        assert made.digest == digest_of(made.encoded)


def test_make_keeps_non_ascii_as_utf8() -> None:
    made = make_disclosure("salt", "city", "서울")
    assert parse_disclosure(made.encoded).value == "서울"


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_make_refuses_reserved_claim_names(name: str) -> None:
    with pytest.raises(MalformedDisclosureError):
        make_disclosure("salt", name, 1)


@pytest.mark.parametrize(
    "raw",
    [
        b'["salt", "_sd", 1]',
        b'["salt", "...", 1]',
        b'["salt"]',
        b'["salt", "a", 1, 2]',
        b'{"salt": "a"}',
        b'[1, "a", 2]',
        b'["salt", 7, 2]',
        b'["salt", "a", {"x": 1, "x": 2}]',
        b'["salt", "a", NaN]',
        b'["salt", "a", 1] trailing',
        b"\xff\xfe",
    ],
)
def test_parse_refuses_bad_shapes(raw: bytes) -> None:
    with pytest.raises(MalformedDisclosureError):
        parse_disclosure(b64u_encode(raw))


@pytest.mark.parametrize("encoded", ["WyJzYWx0IiwgImEiLCAxXQ==", "WyJzYWx0IiwgImEiLCAxXQ+", "a", "WyJz YWx0"])
def test_parse_refuses_lenient_base64(encoded: str) -> None:
    with pytest.raises(MalformedDisclosureError):
        parse_disclosure(encoded)


def test_parse_accepts_surrounding_whitespace_in_json() -> None:
    assert parse_disclosure(b64u_encode(b' ["salt", "a", 1] ')).value == 1


# --- unpacking -----------------------------------------------------------------------------------------
def test_unpack_replaces_digests_recursively_and_drops_undisclosed_elements() -> None:
    street = make_disclosure("s1", "street", "1 Main")
    address = make_disclosure("s2", "address", {"city": "Seoul", "_sd": [street.digest]})
    kr = make_disclosure("s3", None, "KR")
    hidden = digest_of("hidden")
    payload = {"_sd": [address.digest, digest_of("decoy")], "nat": [{"...": kr.digest}, {"...": hidden}, "US"]}
    claims, used = unpack(payload, _by_digest(street, address, kr))
    assert claims == {"address": {"city": "Seoul", "street": "1 Main"}, "nat": ["KR", "US"]}
    assert {d.digest for d in used} == {street.digest, address.digest, kr.digest}


def test_unpack_does_not_mutate_the_payload() -> None:
    d = make_disclosure("s", "a", 1)
    payload = {"_sd": [d.digest], "b": {"c": [1]}}
    unpack(payload, _by_digest(d))
    assert payload == {"_sd": [d.digest], "b": {"c": [1]}}


def test_an_object_with_more_than_the_ellipsis_key_is_an_ordinary_object() -> None:
    claims, _ = unpack({"a": [{"...": "x", "y": 1}]}, {})
    assert claims == {"a": [{"...": "x", "y": 1}]}


def test_duplicate_digest_in_one_sd_array() -> None:
    d = make_disclosure("s", "a", 1)
    assert _code({"_sd": [d.digest, d.digest]}, d) == Code.DUPLICATE_DIGEST


def test_duplicate_digest_across_levels_even_for_decoys() -> None:
    decoy = digest_of("decoy")
    assert _code({"_sd": [decoy], "x": {"_sd": [decoy]}}) == Code.DUPLICATE_DIGEST


def test_duplicate_digest_reached_through_a_disclosure() -> None:
    inner = make_disclosure("s1", "b", 1)
    outer = make_disclosure("s2", "a", {"_sd": [inner.digest]})
    assert _code({"_sd": [outer.digest, inner.digest]}, inner, outer) == Code.DUPLICATE_DIGEST


def test_element_disclosure_referenced_from_sd_is_a_mismatch() -> None:
    d = make_disclosure("s", None, 1)
    assert _code({"_sd": [d.digest]}, d) == Code.DISCLOSURE_MISMATCH


def test_property_disclosure_referenced_as_an_element_is_a_mismatch() -> None:
    d = make_disclosure("s", "a", 1)
    assert _code({"x": [{"...": d.digest}]}, d) == Code.DISCLOSURE_MISMATCH


def test_disclosed_name_that_already_exists_is_a_mismatch() -> None:
    d = make_disclosure("s", "a", 2)
    assert _code({"a": 1, "_sd": [d.digest]}, d) == Code.DISCLOSURE_MISMATCH


@pytest.mark.parametrize("payload", [{"_sd": "abc"}, {"_sd": [1]}, {"x": [{"...": 5}]}])
def test_sd_arrays_and_ellipsis_digests_must_hold_strings(payload: dict[str, object]) -> None:
    assert _code(payload) == Code.MALFORMED


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: dict[str, object] = {}
    for _ in range(MAX_DEPTH + 2):
        deep = {"a": deep}
    assert _code(deep) == Code.MALFORMED


def test_unreferenced_disclosures_are_reported_by_comparison() -> None:
    d = make_disclosure("s", "a", 1)
    _, used = unpack({"b": 2}, _by_digest(d))
    assert used == []
