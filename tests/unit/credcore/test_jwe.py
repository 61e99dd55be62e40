"""credcore.jwe: the OpenID4VP 1.0 §8.3 example decrypts, round trips, and every refusal has its code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe as joserfc_jwe
from joserfc.jwk import ECKey

from credcore import jwe
from credcore._b64 import b64u_encode
from credcore.errors import (
    CredError,
    JweAlgorithmError,
    JweDecryptionError,
    MalformedJweError,
    PayloadTooLargeError,
)

# OpenID4VP 1.0 §8.3: the example encrypted response and the private key the spec gives to decrypt it.
SPEC_JWE = (
    "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSIsImtpZCI6ImFjIiwiZXBrIjp7Imt0eSI6IkVDIiwieCI6Im5ubVZwbTNWM2piaGNh"
    "ZlFhUkJrU1ZOSGx3Wkh3dC05ck9wSnVmeVlJdWsiLCJ5IjoicjRmakRxd0p5czlxVU9QLV9iM21SNVNaRy0tQ3dPMm1pYzVWU05UWU45ZyIs"
    "ImNydiI6IlAtMjU2In19..uAYcHRUSSn2X0WPX.yVzlGSYG4qbg0bq18JcUiDRw56yVnbKR8E7S7YlEtzT00RqE3Pw5oTpUG3hdLN4taHZ9gC1"
    "kwak8JOnJgQ.1wR024_3-qtAlx1oFIUpQQ"
)
SPEC_KEY = {"kty": "EC", "kid": "ac", "use": "enc", "crv": "P-256", "alg": "ECDH-ES",
            "x": "YO4epjifD-KWeq1sL2tNmm36BhXnkJ0He-WqMYrp9Fk", "y": "Hekpm0zfK7C-YccH5iBjcIXgf6YdUvNUac_0At55Okk",
            "d": "Et-3ce0omz8_TuZ96Df9lp0GAaaDoUnDe6X-CRO7Aww"}


def _hdr(**fields) -> str:
    return b64u_encode(json.dumps(fields).encode())


def test_the_openid4vp_spec_example_decrypts():
    assert jwe.decrypt(SPEC_JWE, SPEC_KEY) == {"vp_token": {"example_credential_id": ["eyJhb...YMetA"]}}
    assert jwe.protected_header(SPEC_JWE)["kid"] == "ac"


@pytest.mark.parametrize("enc", jwe.ENCS)
def test_round_trip_carries_kid_apu_apv(enc):
    key = jwe.generate_key("req-1")
    assert "d" not in jwe.public_jwk(key) and jwe.public_jwk(key)["alg"] == "ECDH-ES"
    token = jwe.encrypt({"state": "s", "vp_token": {"cred": ["x"]}}, jwe.public_jwk(key), enc=enc, apu=b"w",
                        apv=b"n")
    header = jwe.protected_header(token)
    assert (header["kid"], header["enc"], header["apu"], header["apv"]) == ("req-1", enc, "dw", "bg")
    assert jwe.decrypt(token, key) == {"state": "s", "vp_token": {"cred": ["x"]}}


def test_joserfc_made_jwe_decrypts_and_ours_decrypts_in_joserfc():
    key = jwe.generate_key("k")
    theirs = joserfc_jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A256GCM", "kid": "k"}, b'{"a":1}',
                                         ECKey.import_key(jwe.public_jwk(key)))
    assert jwe.decrypt(theirs, key) == {"a": 1}
    ours = jwe.encrypt({"b": 2}, jwe.public_jwk(key), enc="A128GCM")
    assert joserfc_jwe.decrypt_compact(ours, ECKey.import_key(key)).plaintext == b'{"b":2}'


def test_wrong_key_and_tampering_fail_opaquely():
    key, other = jwe.generate_key("k"), jwe.generate_key("k")
    token = jwe.encrypt({"a": 1}, jwe.public_jwk(key), enc="A128GCM")
    with pytest.raises(JweDecryptionError) as err:
        jwe.decrypt(token, other)
    assert err.value.code == "jwe_decryption_failed"
    parts = token.split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    with pytest.raises(JweDecryptionError):
        jwe.decrypt(".".join(parts), key)


def test_enc_outside_the_allowed_set_is_refused_before_decrypting():
    key = jwe.generate_key("k")
    token = jwe.encrypt({"a": 1}, jwe.public_jwk(key), enc="A128GCM")
    with pytest.raises(JweAlgorithmError):
        jwe.decrypt(token, key, encs=("A256GCM",))
    cbc = joserfc_jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A128CBC-HS256"}, b"{}",
                                      ECKey.import_key(jwe.public_jwk(key)))
    with pytest.raises(JweAlgorithmError) as err:
        jwe.decrypt(cbc, key)
    assert err.value.code == "jwe_algorithm_refused"


EPK = jwe.public_jwk(jwe.generate_key("e"))


@pytest.mark.parametrize(("token", "error"), [
    ("not-a-jwe", MalformedJweError),
    ("a.b.c", MalformedJweError),
    (f"{_hdr(alg='none', enc='A128GCM')}..AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='dir', enc='A128GCM')}..AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='RSA-OAEP', enc='A128GCM')}.AAAA.AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='ECDH-ES+A128KW', enc='A128GCM', epk=EPK)}.AAAA.AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', zip='DEF', epk=EPK)}..AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', crit=['x'], x=1, epk=EPK)}..AAAA.AAAA.AAAA", JweAlgorithmError),
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM')}..AAAA.AAAA.AAAA", MalformedJweError),  # no epk
    # off the curve
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', epk={**EPK, 'y': EPK['x']})}..AAAA.AAAA.AAAA", MalformedJweError),
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', epk={**EPK, 'crv': 'P-384'})}..AAAA.AAAA.AAAA", JweAlgorithmError),
    # direct key agreement has no encrypted key
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', epk=EPK)}.AAAA.AAAA.AAAA.AAAA", MalformedJweError),
    ("eyJhbGciOiJFQ0RILUVTIiwiYWxnIjoiRUNESC1FUyJ9..AAAA.AAAA.AAAA", MalformedJweError),  # duplicate member
    (f"{_hdr(alg='ECDH-ES', enc='A128GCM', epk=EPK)}..AA!A.AAAA.AAAA", MalformedJweError),  # not base64url
])
def test_malformed_or_refused_headers(token, error):
    with pytest.raises(error):
        jwe.decrypt(token, SPEC_KEY)


def test_oversized_is_refused_unread():
    with pytest.raises(PayloadTooLargeError):
        jwe.protected_header("a" * (jwe.MAX_JWE_BYTES + 1))


def test_payload_must_be_a_json_object():
    key = jwe.generate_key("k")
    token = joserfc_jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A128GCM"}, b"[1]",
                                        ECKey.import_key(jwe.public_jwk(key)))
    with pytest.raises(MalformedJweError):
        jwe.decrypt(token, key)


def test_encrypt_refuses_keys_it_cannot_use():
    with pytest.raises(JweAlgorithmError):
        jwe.encrypt({}, {**EPK, "alg": "RSA-OAEP"}, enc="A128GCM")
    with pytest.raises(JweAlgorithmError):
        jwe.encrypt({}, EPK, enc="A128CBC-HS256")
    with pytest.raises(MalformedJweError):
        jwe.check_recipient({**EPK, "y": EPK["x"]})


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3),
                     max_leaves=6)
_EPK = st.fixed_dictionaries({}, optional={"kty": st.sampled_from(["EC", "OKP", 1]), "crv": st.sampled_from(
    ["P-256", "P-384", None]), "x": _JSON | st.just(EPK["x"]), "y": _JSON | st.just(EPK["y"]), "d": _JSON})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(epk=_EPK | _JSON, extra=st.dictionaries(st.sampled_from(["kid", "apu", "apv", "typ", "cty"]), _JSON,
                                               max_size=3), tail=st.sampled_from(["", "AAAA", "!!", "A" * 5]))
def test_any_header_is_a_coded_refusal_never_another_exception(epk, extra, tail):
    token = f"{_hdr(alg='ECDH-ES', enc='A128GCM', epk=epk, **extra)}..AAAA.{tail}.AAAA"
    with pytest.raises(CredError):
        jwe.decrypt(token, SPEC_KEY)
