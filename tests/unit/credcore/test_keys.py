import pytest

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
