"""Hypothesis properties of SD-JWT VC: issue -> present any subset -> verify round-trips, and tampering fails safely."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credcore._b64 import b64u_encode
from credcore._sdjwt_parse import split, to_json
from credcore._sdjwt_paths import format_path
from credcore.errors import MalformedInputError
from credcore.keys import SigningKey
from credcore.sdjwt import disclosable_claims, issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt_vc
from credcore.trust import IssuerKey, TrustedIssuer, TrustSnapshot

NOW = 1_795_000_000
ISS = "did:ethr:0x539:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
VCT = "urn:civicpass:ResidentCredential:1"
IK = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HK = SigningKey.from_secret("P-256", bytes(range(2, 34)))
TRUST = TrustSnapshot(issuers=(TrustedIssuer(ISS, "City", frozenset({VCT}), (IssuerKey(IK.public_key),)),))
REGISTERED = {"iss", "iat", "exp", "vct", "cnf", "status"}
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path = tuple[str, ...]


class Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


names = st.text(alphabet="ab~/é_", min_size=1, max_size=3).filter(lambda n: n not in {"_sd", "..."})
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=6)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8
)
claim_sets = st.dictionaries(names, values, min_size=1, max_size=5)


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        path = (*prefix, str(key))
        found.append(path)
        found.extend(_paths(item, path))
    return found


def _expected(value: Any, disclosable: set[Path], shown: set[Path], prefix: Path = ()) -> Any:
    """The claims a verifier must see: a disclosable node survives if a shown path is its ancestor or descendant."""

    def kept(path: Path) -> bool:
        return path not in disclosable or any(path[: len(p)] == p or p[: len(path)] == path for p in shown)

    if isinstance(value, dict):
        return {k: _expected(v, disclosable, shown, (*prefix, k)) for k, v in value.items() if kept((*prefix, k))}
    if isinstance(value, list):
        return [
            _expected(v, disclosable, shown, (*prefix, str(i))) for i, v in enumerate(value) if kept((*prefix, str(i)))
        ]
    return value


@SETTINGS
@given(claims=claim_sets, data=st.data())
def test_issue_present_any_subset_verify_round_trips(claims: dict[str, Any], data: st.DataObject) -> None:
    paths = _paths(claims)
    disclosable = set(data.draw(st.lists(st.sampled_from(paths), unique=True))) if paths else set()
    shown = set(data.draw(st.lists(st.sampled_from(sorted(disclosable)), unique=True))) if disclosable else set()
    decoys = data.draw(st.integers(0, 3))
    sd = issue_sd_jwt_vc(
        claims, vct=VCT, issuer=ISS, signer=IK, holder_key=HK.public_key, iat=NOW - 10, exp=NOW + 60, salts=Salts(),
        disclosable=[format_path(p) for p in disclosable], decoys=decoys,
    )
    assert set(disclosable_claims(sd)) == {format_path(p) for p in disclosable}
    text = present_sd_jwt(sd, disclose=[format_path(p) for p in shown], holder_key=HK, audience="a", nonce="n", now=NOW)
    for form in (text, to_json(split(text))):
        result = verify_sd_jwt_vc(form, trust=TRUST, now=NOW, audience="a", nonce="n")
        assert result.verified, result.to_json()["checks"]
        user_claims = {k: v for k, v in result.claims.items() if k not in REGISTERED}
        assert user_claims == _expected(claims, disclosable, shown)


def _presentation() -> str:
    claims = {"given_name": "Ana", "address": {"street": "1 Jongno", "city": "Seoul"}, "nat": ["KR", "US"], "n": 7}
    sd = issue_sd_jwt_vc(
        claims, vct=VCT, issuer=ISS, signer=IK, holder_key=HK.public_key, iat=NOW - 10, exp=NOW + 60, salts=Salts(),
        disclosable=["given_name", "address", "address/city", "nat/1", "n"], decoys=2,
    )
    return present_sd_jwt(sd, disclose=["address/city", "nat/1"], holder_key=HK, audience="a", nonce="n", now=NOW)


PRESENTATION = _presentation()
JSON_PRESENTATION = to_json(split(PRESENTATION))
REPLACEMENTS = st.sampled_from([*"Aa0-_.~+/= \n\x00{}\"é\u2028", chr(0xD800)])


def _assert_fails_safely(text: str) -> None:
    try:
        result = verify_sd_jwt_vc(text, trust=TRUST, now=NOW, audience="a", nonce="n")
    except MalformedInputError:
        return
    assert not result.verified and result.code is not None


@pytest.mark.parametrize("text", [PRESENTATION, JSON_PRESENTATION])
def test_unmodified_presentations_verify(text: str) -> None:
    assert verify_sd_jwt_vc(text, trust=TRUST, now=NOW, audience="a", nonce="n").verified


@SETTINGS
@given(pos=st.integers(0, len(PRESENTATION) - 1), char=REPLACEMENTS)
def test_any_single_character_change_fails_with_a_code(pos: int, char: str) -> None:
    if PRESENTATION[pos] == char:
        return
    _assert_fails_safely(PRESENTATION[:pos] + char + PRESENTATION[pos + 1 :])


@SETTINGS
@given(pos=st.integers(0, len(JSON_PRESENTATION) - 1), char=REPLACEMENTS)
def test_any_single_character_change_to_json_form_fails_or_changes_nothing(pos: int, char: str) -> None:
    mutated = JSON_PRESENTATION[:pos] + char + JSON_PRESENTATION[pos + 1 :]
    if mutated == JSON_PRESENTATION:
        return
    try:
        result = verify_sd_jwt_vc(mutated, trust=TRUST, now=NOW, audience="a", nonce="n")
    except MalformedInputError:
        return
    # JSON whitespace between members is not covered by any signature or sd_hash: it may change harmlessly.
    if result.verified:
        assert mutated.replace(" ", "").replace("\n", "") == JSON_PRESENTATION.replace(" ", "")
    else:
        assert result.code is not None


@SETTINGS
@given(pos=st.integers(0, len(PRESENTATION) - 1))
def test_deleting_any_character_fails_with_a_code(pos: int) -> None:
    _assert_fails_safely(PRESENTATION[:pos] + PRESENTATION[pos + 1 :])


@SETTINGS
@given(st.text(alphabet="~.{}[]\":,ABCabc012-_ ", max_size=80))
def test_arbitrary_text_never_raises_anything_but_malformed_input(text: str) -> None:
    _assert_fails_safely(text)
