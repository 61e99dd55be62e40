import hashlib
import json

import pytest

from credcore import jws
from credcore._b64 import b64u_decode
from credcore.errors import MalformedInputError, SignatureError
from credcore.keys import PublicKey, SigningKey
from credcore.status_list import (
    Status,
    StatusList,
    StatusListExpiredError,
    StatusListUriMismatchError,
    sign_status_list_jwt,
    status_list_digest,
    unsafe_decode_status_list_jwt,
    verify_status_list_jwt,
)

KEY = SigningKey.from_secret("P-256", bytes(range(1, 33)))
URI = "https://issuer.example/status-lists/7"
NOW = 1_795_000_000
LIST = StatusList.empty(64).set(3, Status.INVALID).set(5, Status.SUSPENDED)

# draft-ietf-oauth-status-list §5.1 example token, signed with the draft's example key (its src/util.py)
DRAFT_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo",
    "y": "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M",
}
DRAFT_TOKEN = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEyIiwidHlwIjoic3RhdHVzbGlzdCtqd3QifQ."
    "eyJleHAiOjIyOTE3MjAxNzAsImlhdCI6MTY4NjkyMDE3MCwiaXNzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbSIsInN0YXR1"
    "c19saXN0Ijp7ImJpdHMiOjEsImxzdCI6ImVOcmJ1UmdBQWhjQlhRIn0sInN1YiI6Imh0dHBzOi8vZXhhbXBsZS5jb20"
    "vc3RhdHVzbGlzdHMvMSIsInR0bCI6NDMyMDB9."
    "2lKUUNG503R9htu4aHAYi7vjmr3sgApbfoDvPrl65N3URUO1EYqqQl45Jfzd-Av4QzlKa3oVALpLwOEUOq-U_g"
)


def _sign(**overrides):
    args = {"uri": URI, "signer": KEY, "iat": NOW - 10, "exp": NOW + 3600, "ttl": 300, **overrides}
    return sign_status_list_jwt(LIST, **args)


def test_draft_example_token_verifies_and_decodes():
    parsed = verify_status_list_jwt(
        DRAFT_TOKEN, PublicKey.from_jwk(DRAFT_KEY), now=NOW, expected_uri="https://example.com/statuslists/1"
    )
    assert (parsed.iat, parsed.exp, parsed.ttl) == (1686920170, 2291720170, 43200)
    assert parsed.status_list.data == bytes([0xB9, 0xA3])
    assert [parsed.status_list.get(i) for i in range(4)] == [1, 0, 0, 1]


def test_round_trip_and_header():
    token = _sign()
    header = json.loads(b64u_decode(token.split(".")[0]))
    assert header == {"alg": "ES256", "typ": "statuslist+jwt", "kid": KEY.public_key.thumbprint()}
    parsed = verify_status_list_jwt(token, KEY.public_key, now=NOW, expected_uri=URI)
    assert parsed.uri == URI and parsed.status_list == LIST
    assert (parsed.exp, parsed.ttl) == (NOW + 3600, 300)


def test_exp_and_ttl_are_optional():
    parsed = verify_status_list_jwt(_sign(exp=None, ttl=None), KEY.public_key, now=NOW, expected_uri=None)
    assert parsed.exp is None and parsed.ttl is None


def test_expired_list_is_refused():
    with pytest.raises(StatusListExpiredError) as err:
        verify_status_list_jwt(_sign(), KEY.public_key, now=NOW + 3600, expected_uri=URI)
    assert err.value.code == "status_list_expired"


def test_sub_must_equal_the_referenced_uri():
    with pytest.raises(StatusListUriMismatchError):
        verify_status_list_jwt(_sign(), KEY.public_key, now=NOW, expected_uri=URI + "0")


def test_wrong_key_is_refused():
    with pytest.raises(SignatureError):
        verify_status_list_jwt(_sign(), SigningKey.generate().public_key, now=NOW, expected_uri=URI)


def test_other_typ_is_refused():
    token = jws.sign({"sub": URI, "iat": NOW, "status_list": LIST.to_json()}, KEY, header={"typ": "JWT"})
    with pytest.raises(MalformedInputError):
        verify_status_list_jwt(token, KEY.public_key, now=NOW, expected_uri=URI)


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": NOW, "status_list": LIST.to_json()},
        {"sub": URI, "status_list": LIST.to_json()},
        {"sub": URI, "iat": "now", "status_list": LIST.to_json()},
        {"sub": URI, "iat": NOW, "status_list": {"bits": 3, "lst": "eNrbuRgAAhcBXQ"}},
        {"sub": URI, "iat": NOW},
        {"sub": URI, "iat": NOW, "ttl": 0, "status_list": LIST.to_json()},
        {"sub": URI, "iat": NOW, "exp": True, "status_list": LIST.to_json()},
    ],
)
def test_malformed_claims_are_refused(claims):
    token = jws.sign(claims, KEY, header={"typ": "statuslist+jwt"})
    with pytest.raises(MalformedInputError):
        verify_status_list_jwt(token, KEY.public_key, now=NOW, expected_uri=None)


def test_signing_refuses_inconsistent_times():
    with pytest.raises(MalformedInputError):
        _sign(exp=NOW - 100)
    with pytest.raises(MalformedInputError):
        _sign(ttl=0)


def test_digest_is_sha256_of_the_jwt_text():
    token = _sign()
    assert status_list_digest(token) == hashlib.sha256(token.encode("ascii")).digest()
    assert len(status_list_digest(token)) == 32
    with pytest.raises(MalformedInputError):
        status_list_digest("é")


def test_unsafe_decode_skips_signature_and_expiry():
    token = _sign()
    head, payload, _ = token.split(".")
    header, parsed = unsafe_decode_status_list_jwt(f"{head}.{payload}.AAAA")
    assert header["typ"] == "statuslist+jwt" and parsed.status_list.get(5) == Status.SUSPENDED
