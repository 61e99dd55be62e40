import dataclasses

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credcore._b64 import b64u_encode
from credcore.errors import InvalidKeyError, UnsupportedAlgorithmError
from credcore.keys import PublicKey, SigningKey, jwk_thumbprint

P256 = SigningKey.from_secret("P-256", bytes(range(1, 33)))
# RFC 8037 §A.2/§A.3: an Ed25519 public JWK and its RFC 7638 thumbprint
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc8037_thumbprint():
    assert jwk_thumbprint(RFC8037_JWK) == RFC8037_THUMBPRINT
    assert PublicKey.from_jwk(RFC8037_JWK).thumbprint() == RFC8037_THUMBPRINT


@pytest.mark.parametrize("alg", ["ES521", "ES224", "ES256K", "EdDSA", "HS256"])
def test_jwk_alg_naming_another_algorithm_is_refused(alg):
    jwk = {**P256.public_key.to_jwk(), "alg": alg}
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk(jwk)
    with pytest.raises(InvalidKeyError):
        SigningKey.from_jwk({**P256.to_jwk(), "alg": alg})


def test_jwk_alg_matching_the_curve_is_accepted():
    assert PublicKey.from_jwk({**P256.public_key.to_jwk(), "alg": "ES256"}) == P256.public_key
    assert PublicKey.from_jwk({**RFC8037_JWK, "alg": "EdDSA"}).curve == "Ed25519"
    assert PublicKey.from_jwk({**RFC8037_JWK, "alg": "Ed25519"}).curve == "Ed25519"  # RFC 9864 fully specified


@pytest.mark.parametrize("extra", [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": "verify"}])
def test_jwk_meant_for_something_else_is_refused(extra):
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk({**P256.public_key.to_jwk(), **extra})


def test_signing_jwk_needs_sign_in_key_ops():
    with pytest.raises(InvalidKeyError):
        SigningKey.from_jwk({**P256.to_jwk(), "key_ops": ["verify"]})
    assert SigningKey.from_jwk({**P256.to_jwk(), "key_ops": ["sign"]}).public_key == P256.public_key


@pytest.mark.parametrize("jwk", [{"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-384", "x": "", "y": ""}])
def test_key_types_outside_the_allow_list_are_unsupported(jwk):
    with pytest.raises(UnsupportedAlgorithmError):
        PublicKey.from_jwk(jwk)


def test_mismatched_private_and_public_members_are_refused():
    other = SigningKey.generate("P-256").public_key.to_jwk()
    with pytest.raises(InvalidKeyError):
        SigningKey.from_jwk({**other, "d": P256.to_jwk()["d"]})


@pytest.mark.parametrize("curve", ["P-256", "secp256k1", "Ed25519"])
def test_sign_verify_and_bytes_round_trip(curve):
    key = SigningKey.generate(curve)
    sig = key.sign(b"msg")
    assert key.public_key.verify(sig, b"msg") and not key.public_key.verify(sig, b"msh")
    assert PublicKey.from_bytes(curve, key.public_key.to_bytes()) == key.public_key


# --- encoded points kept at construction ---------------------------------------------------------------
def _public_bytes(key: PublicKey, fmt: PublicFormat) -> bytes:
    if key.curve == "Ed25519":
        return key._key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key._key.public_bytes(Encoding.X962, fmt)


@pytest.mark.parametrize("curve", ["P-256", "secp256k1", "Ed25519"])
def test_kept_points_are_what_cryptography_encodes(curve):
    for _ in range(20):  # both parities of y, many times over
        signer = SigningKey.generate(curve)
        public = signer.public_key
        forms = [public, PublicKey.from_jwk(public.to_jwk()), PublicKey.from_bytes(curve, public.to_bytes())]
        if curve != "Ed25519":
            forms.append(PublicKey.from_bytes(curve, public.to_bytes(compressed=False)))
        for key in forms:
            assert key.to_bytes() == _public_bytes(key, PublicFormat.CompressedPoint)
            assert key.to_bytes(compressed=False) == _public_bytes(key, PublicFormat.UncompressedPoint)
            assert key.to_jwk() == public.to_jwk()
            assert key == public and hash(key) == hash(public)
        assert len({*forms, SigningKey.generate(curve).public_key}) == 2


def test_public_key_equality_is_by_point_only():
    one, other = P256.public_key, SigningKey.generate("P-256").public_key
    assert one != other and one != one.to_bytes() and one != None  # noqa: E711


def test_signing_key_keeps_one_public_key_and_nothing_can_change_it():
    assert P256.public_key is P256.public_key
    assert "_public" not in repr(P256) and "_compressed" not in repr(P256.public_key)
    with pytest.raises(dataclasses.FrozenInstanceError):
        P256.public_key._compressed = b"\x02" + bytes(32)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        P256._public = SigningKey.generate().public_key  # type: ignore[misc]


def _point_with_small_x(p: int, a: int, b: int) -> tuple[int, int]:
    for x in range(1, 100):
        rhs = (x**3 + a * x + b) % p
        y = pow(rhs, (p + 1) // 4, p)  # p = 3 mod 4 for both curves
        if y * y % p == rhs:
            return x, y
    raise AssertionError("no point found")


@pytest.mark.parametrize(
    ("curve", "p", "a", "b"),
    [
        ("P-256", 2**256 - 2**224 + 2**192 + 2**96 - 1, -3,
         0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B),
        ("secp256k1", 2**256 - 2**32 - 977, 0, 7),
    ],
)
def test_non_canonical_coordinates_are_refused(curve, p, a, b):
    # PublicKey takes its compressed point from the accepted input bytes, which is only sound if x (and y)
    # below p are the one encoding OpenSSL accepts. x + p still fits in 32 bytes when x is small.
    x, y = _point_with_small_x(p, a, b)
    good = PublicKey.from_bytes(curve, b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big"))
    assert good.to_bytes() == bytes((2 | (y & 1),)) + x.to_bytes(32, "big")
    big_x = (x + p).to_bytes(32, "big")
    for data in (b"\x04" + big_x + y.to_bytes(32, "big"), bytes((2 | (y & 1),)) + big_x):
        with pytest.raises(InvalidKeyError):
            PublicKey.from_bytes(curve, data)
    jwk = {**good.to_jwk(), "x": b64u_encode(big_x)}
    with pytest.raises(InvalidKeyError):
        PublicKey.from_jwk(jwk)


def test_non_canonical_y_is_refused():
    # secp256k1 has a point with y = 1 (x is a cube root of 1 - 7; p = 7 mod 9 gives it directly), so y + p fits.
    p = 2**256 - 2**32 - 977
    x = pow(-6 % p, (p + 2) // 9, p)
    assert pow(x, 3, p) == -6 % p
    xb = x.to_bytes(32, "big")
    assert PublicKey.from_bytes("secp256k1", b"\x04" + xb + (1).to_bytes(32, "big")).to_bytes() == b"\x03" + xb
    with pytest.raises(InvalidKeyError):
        PublicKey.from_bytes("secp256k1", b"\x04" + xb + (1 + p).to_bytes(32, "big"))
