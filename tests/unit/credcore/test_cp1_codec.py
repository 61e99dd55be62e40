"""The byte layers under CP1: the strict CBOR subset decoder, the signed structures, and Base45 QR text."""

from __future__ import annotations

import base45
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credcore import _cose
from credcore.errors import MalformedInputError, PayloadTooLargeError
from credcore.keys import SigningKey
from credcore.qr import BASE45_ALPHABET, b45decode, b45encode, decode_qr_text, encode_qr_text

SIGNER = SigningKey.from_secret("P-256", bytes(range(1, 33)))

# Values in the subset: 64-bit integers, bytes, text, arrays, maps with one-byte integer keys, bools, null.
scalars = (
    st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=300)
    | st.text(max_size=40)
    | st.booleans()
    | st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-24, 23), inner, max_size=5),
    max_leaves=12,
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@settings(max_examples=200)
@given(values)
def test_decoder_reads_back_canonical_cbor2_output(value):
    encoded = cbor2.dumps(value, canonical=True)
    if depth(value) > _cose.MAX_DEPTH:
        with pytest.raises(MalformedInputError):
            _cose.loads(encoded, "x")
    else:
        assert _cose.loads(encoded, "x") == value


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_whatever_the_decoder_accepts_cbor2_reads_the_same(data):
    try:
        value = _cose.loads(data, "x", tags=frozenset({18}))
    except MalformedInputError:
        return
    assert cbor2.loads(data) == value
    assert cbor2.dumps(value, canonical=True) == data  # and it was the one deterministic encoding


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("9f01ff", "indefinite array"),
        ("5f4101ff", "indefinite byte string"),
        ("bf0101ff", "indefinite map"),
        ("1801", "non-minimal 1-byte head"),
        ("190017", "non-minimal 2-byte head"),
        ("1a0000ffff", "non-minimal 4-byte head"),
        ("1b00000000ffffffff", "non-minimal 8-byte head"),
        ("a201010102", "duplicate map key"),
        ("a202010101", "map keys out of order"),
        ("a1616101", "text map key"),
        ("a1181801", "map key needing two bytes"),
        ("a1f401", "bool map key"),
        ("f93c00", "half float"),
        ("fb3ff0000000000000", "double"),
        ("f7", "undefined"),
        ("f0", "simple value"),
        ("c11a5f000000", "epoch datetime tag"),
        ("c249010000000000000000", "bignum tag"),
        ("d81c81d81d00", "shared reference tags"),
        ("d2840040a040", "tag 18 when not expected"),
        ("0102", "trailing bytes"),
        ("19ff", "truncated head"),
        ("4301", "truncated byte string"),
        ("62c328", "invalid UTF-8"),
        ("9bffffffffffffffff", "absurd array length"),
        ("5b7fffffffffffffff", "absurd byte string length"),
        ("81818181818100", "nested too deeply"),
        ("", "empty"),
        ("1c", "reserved head"),
        ("ff", "lone break"),
    ],
)
def test_decoder_refuses(data, why):
    with pytest.raises(MalformedInputError):
        _cose.loads(bytes.fromhex(data), why)


def test_decoder_bounds_integers_to_64_bits():
    assert _cose.loads(bytes.fromhex("1bffffffffffffffff"), "x") == 2**64 - 1
    assert _cose.loads(bytes.fromhex("3bffffffffffffffff"), "x") == -(2**64)


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_sig_structure_is_the_rfc9052_array(protected, payload):
    assert _cose.sig_structure(protected, payload) == cbor2.dumps(["Signature1", protected, b"", payload])


class _FixedSigner:
    """Stands in for a SigningKey where the test needs a signature of a chosen length."""

    def __init__(self, size: int) -> None:
        self.size = size

    def sign(self, data: bytes) -> bytes:
        return bytes(range(256)) * (self.size // 256) + bytes(range(self.size % 256))


def canonical_sign1(data: bytes) -> bytes:
    """cbor2's deterministic encoding of the COSE_Sign1 in ``data`` (sign1 writes its bytes by hand)."""
    item = cbor2.loads(data)
    assert isinstance(item, cbor2.CBORTag) and item.tag == 18
    protected, unprotected, payload, signature = item.value
    assert protected == cbor2.dumps(cbor2.loads(protected), canonical=True) and unprotected == {}
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]), canonical=True)


# Byte-string heads change at lengths 24 (1 -> 2 bytes), 256 (-> 3) and 65,536 (-> 5). A kid of n bytes
# makes a 5 + n byte protected header (n < 24), 6 + n from 24 to 255: kids 18/19 and 249/250 put the
# protected header itself at 23/24 and 255/256.
BOUNDARY_SIZES = [0, 1, 23, 24, 255, 256, 65_535, 65_536]
KID_SIZES = [0, 1, 18, 19, 23, 24, 249, 250, 255, 256]


def test_the_kid_sizes_put_the_protected_header_on_each_boundary():
    sizes = {len(cbor2.dumps({1: -7, 4: bytes(n)}, canonical=True)) for n in KID_SIZES}
    assert {23, 24, 255, 256} <= sizes


@pytest.mark.parametrize("kid_size", KID_SIZES)
@pytest.mark.parametrize("payload_size", BOUNDARY_SIZES)
@pytest.mark.parametrize("signature_size", [0, 23, 24, 64, 255, 256])
def test_sign1_writes_cbor2s_canonical_bytes(kid_size, payload_size, signature_size):
    header = {_cose.HDR_ALG: _cose.ALG_ES256, _cose.HDR_KID: bytes(kid_size)}
    payload = bytes(range(7)) * (payload_size // 7) + b"\x01" * (payload_size % 7)
    written = _cose.sign1(header, payload, _FixedSigner(signature_size))
    protected = cbor2.dumps(header, canonical=True)
    signature = _FixedSigner(signature_size).sign(b"")
    assert written == cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]), canonical=True)
    assert _cose.parse_sign1(written) == _cose.Sign1(protected, header, payload, signature)


@pytest.mark.parametrize(
    "header",
    [
        {1: -7, 4: b"k"},
        {1: True, 4: b"k"},  # equal to 1 and hashes like it: must not share 1's cached header
        {1: 1, 4: b"k"},
        {1: 1.0, 4: b"k"},
        {1: "ES256", 4: b"k"},
        {1: -7, 4: "k"},
        {1: -7},
        {4: b"k", 1: -7, 3: 0},
        {1: -7, 4: bytearray(b"k")},
        {},
    ],
)
def test_sign1_protected_header_is_the_canonical_encoding_whatever_was_cached(header):
    signer = _FixedSigner(64)
    for _ in range(2):  # the second call is served from the per-(alg, kid) cache where there is one
        _cose.sign1({1: 1, 4: b"k"}, b"", signer)
        written = _cose.sign1(header, b"payload", signer)
        assert written == canonical_sign1(written)
        assert cbor2.loads(written).value[0] == cbor2.dumps(header, canonical=True)


@settings(max_examples=50)
@given(st.binary(max_size=40), st.binary(max_size=600), st.sampled_from([-7, -8, 0, 23, 24, -24, -25, 255, 256]))
def test_sign1_with_a_real_key_is_canonical_and_verifies(kid, payload, alg):
    written = _cose.sign1({_cose.HDR_ALG: alg, _cose.HDR_KID: kid}, payload, SIGNER)
    assert written == canonical_sign1(written)
    parsed = _cose.parse_sign1(written)
    assert parsed.header == {1: alg, 4: kid} and parsed.payload == payload
    assert SIGNER.public_key.verify(parsed.signature, parsed.to_be_signed(), "ES256")


@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**40), st.none() | st.text(min_size=1, max_size=32))
def test_holder_proof_input_is_plain_cbor(digest, step, nonce):
    expected = cbor2.dumps(["CP1-holder-proof", digest, step, nonce])
    assert _cose.holder_proof_input("CP1-holder-proof", digest, step, nonce) == expected


# --- Base45 ----------------------------------------------------------------------------------------------
@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_base45_matches_the_base45_package(data):
    text = b45encode(data)
    assert text == base45.b45encode(data).decode()
    assert b45decode(text) == data == base45.b45decode(text)


@settings(max_examples=300)
@given(st.text(alphabet=BASE45_ALPHABET + "a\n=", max_size=30))
def test_base45_decoder_is_strict_where_the_package_is_lenient(text):
    try:
        ours = b45decode(text)
    except MalformedInputError:
        ours = None
    try:
        theirs = None if "\n" in text else base45.b45decode(text)  # the package strips a trailing newline
    except ValueError:
        theirs = None
    assert ours == theirs
    if ours is not None:
        assert b45encode(ours) == text  # canonical: one text per byte string


@pytest.mark.parametrize("text", ["GGW", "::", ":::", "A", "AAAA", "BB8\n", "bb8", "ÄB", "BB=8"])
def test_base45_refuses(text):
    with pytest.raises(MalformedInputError):
        b45decode(text)


def test_qr_text_prefix_and_size_limit():
    assert decode_qr_text(encode_qr_text("CP1:", b"\x00\xff"), "CP1:") == b"\x00\xff"
    with pytest.raises(MalformedInputError):
        decode_qr_text("CP2:000", "CP1:")
    with pytest.raises(MalformedInputError):
        decode_qr_text(b"CP1:000", "CP1:")  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLargeError):
        decode_qr_text("CP1:" + "0" * 997, "CP1:")
    assert decode_qr_text("CP1:" + "0" * 996, "CP1:") == bytes(664)
