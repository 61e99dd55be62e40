import pytest

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError, SignatureError, UnsupportedAlgorithmError
from credcore.keys import SigningKey

KEY = SigningKey.from_secret("P-256", bytes(range(1, 33)))


def test_sign_verify_round_trip():
    token = jws.sign({"a": 1}, KEY, header={"typ": "example+jwt"})
    parsed = jws.verify(token, KEY.public_key, typ="example+jwt")
    assert parsed.payload == {"a": 1}


def test_wrong_key_fails_opaquely():
    token = jws.sign({"a": 1}, KEY)
    with pytest.raises(SignatureError) as err:
        jws.verify(token, SigningKey.generate().public_key)
    assert str(err.value) == "signature_invalid: Signature does not verify"


def test_alg_none_is_refused():
    token = jws.sign({"a": 1}, KEY)
    _, payload, _ = token.split(".")
    none_header = b64u_encode(b'{"alg":"none"}')
    forged = f"{none_header}.{payload}."
    with pytest.raises(UnsupportedAlgorithmError):
        jws.verify(forged, KEY.public_key)


def test_hmac_with_public_key_is_refused():
    token = jws.sign({"a": 1}, KEY)
    _, payload, sig = token.split(".")
    hs_header = b64u_encode(b'{"alg":"HS256"}')
    forged = f"{hs_header}.{payload}.{sig}"
    with pytest.raises(UnsupportedAlgorithmError):
        jws.verify(forged, KEY.public_key)


def test_non_canonical_base64_signature_is_refused():
    token = jws.sign({"a": 1}, KEY)
    head, payload, sig = token.split(".")
    # 64-byte signature -> 86 chars, the last carries 4 unused bits; flipping one keeps the bytes but not the text
    last = sig[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) + 1]
    with pytest.raises(MalformedInputError):
        jws.verify(f"{head}.{payload}.{sig[:-1]}{twin}", KEY.public_key)
    assert b64u_decode(sig) == b64u_decode(sig)


def test_duplicate_header_member_is_refused():
    header = b64u_encode(b'{"alg":"ES256","alg":"ES256"}')
    with pytest.raises(MalformedInputError):
        jws.parse(f"{header}.{b64u_encode(b'{}')}.AAAA")


def test_wrong_typ_is_refused():
    token = jws.sign({"a": 1}, KEY, header={"typ": "other"})
    with pytest.raises(MalformedInputError):
        jws.verify(token, KEY.public_key, typ="example+jwt")


@pytest.mark.parametrize(
    "raw",
    [
        '{"alg":"ES256"}'.encode("utf-16"),
        b"\xef\xbb\xbf" + b'{"alg":"ES256"}',
        b'{"alg":"ES256","x":"\xff"}',
    ],
    ids=["utf-16", "byte-order-mark", "invalid-utf-8"],
)
def test_header_that_is_not_plain_utf8_json_is_refused(raw):
    token = jws.sign({"a": 1}, KEY)
    _, payload, sig = token.split(".")
    with pytest.raises(MalformedInputError):
        jws.parse(f"{b64u_encode(raw)}.{payload}.{sig}")
