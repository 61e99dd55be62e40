"""CP1 compact QR credentials: issue -> present -> verify, and one test per failure code."""

from __future__ import annotations

import json

import pytest

from credcore import _cose
from credcore._defaults import MemoryReplayGuard
from credcore.cp1 import (
    MAX_CREDENTIAL_BYTES,
    TIME_STEP,
    credential_digest,
    decode_cp1,
    issue_cp1,
    present_cp1,
    verify_cp1,
)
from credcore.cp1.codec import holder_input
from credcore.errors import (
    InvalidKeyError,
    MalformedInputError,
    MalformedPresentationError,
    PayloadTooLargeError,
    UnsupportedAlgorithmError,
)
from credcore.keys import SigningKey
from credcore.presentations import verify_presentation
from credcore.profiles import business_number_digest
from credcore.qr import encode_qr_text
from credcore.status_list import Status, StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot, kid8
from credcore.verification import Check, Code

NOW = 1_795_000_000  # tests/conftest.py FIXED_NOW (not imported: other folders have a conftest too)
DAY = 86_400
ISSUER_ID = "did:ethr:0x7a69:0x5FbDB2315678afecb367f032d93F642f64180aa3"
RESIDENT_VCT, MERCHANT_VCT = "urn:civicpass:ResidentCredential:1", "urn:civicpass:MerchantCredential:1"
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
OTHER = SigningKey.from_secret("P-256", bytes(range(3, 35)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
LIST_ID, INDEX = 7, 41_234

RESIDENT = {"city": 26000, "district": 26350, "age_over_19": True}  # 부산광역시 해운대구
MERCHANT = {
    "business_number_digest": business_number_digest("617-81-12345"),
    "market": 26110_003,
    "small_business": True,
    "programmes": [1, 2, 5],
}
STEPS = [Check.FORMAT, Check.TRUST, Check.KEY, Check.SIGNATURE, Check.VALIDITY, Check.STATUS, Check.HOLDER_BINDING]


def snapshot(
    *,
    types: frozenset[str] = frozenset({RESIDENT_VCT, MERCHANT_VCT}),
    key: IssuerKey | None = None,
    status: StatusList | None = None,
    suspended_at: int | None = None,
    issuers: tuple[TrustedIssuer, ...] = (),
) -> TrustSnapshot:
    issuer = TrustedIssuer(
        issuer_id=ISSUER_ID,
        name="부산광역시",
        credential_types=types,
        keys=(key or IssuerKey(ISSUER.public_key, valid_from=NOW - 365 * DAY),),
        suspended_at=suspended_at,
    )
    status = status or StatusList.empty(1 << 16)
    record = StatusListRecord(ISSUER_ID, LIST_ID, "https://busan.example/status-lists/7", status)
    return TrustSnapshot(issuers=issuers or (issuer,), status_lists=(record,), block_number=4242, synced_at=NOW - 30)


TRUST = snapshot()


def issue(profile: str = "resident-basic", claims: dict | None = None, **kw) -> bytes:
    args = {"signer": ISSUER, "holder_key": HOLDER.public_key, "status_list_id": LIST_ID, "status_index": INDEX}
    args |= {"iat": NOW - DAY, "exp": NOW + 30 * DAY} | kw
    default = RESIDENT if profile == "resident-basic" else MERCHANT
    return issue_cp1(default if claims is None else claims, profile=profile, **args)


def forge(claims: dict, *, signer: SigningKey = ISSUER, kid: bytes | None = None, alg: object = -7) -> bytes:
    """A credential with an arbitrary CWT claims map and header, signed as the real issuer would."""
    base = {4: NOW + DAY, 6: NOW - DAY, 8: HOLDER.public_key.to_bytes(), -1: 1, -2: [LIST_ID, INDEX]}
    base[-3] = {1: 26000, 2: 26350, 3: True}
    header = {1: alg, 4: kid8(signer.public_key.thumbprint_bytes()) if kid is None else kid}
    return _cose.sign1(header, _cose.dumps(base | claims), signer)


def show(credential: bytes, *, holder: SigningKey = HOLDER, now: int = NOW, nonce: str | None = None) -> str:
    """A presentation built without present_cp1's checks (so the holder key may be the wrong one)."""
    step = now // TIME_STEP
    signature = holder.sign(holder_input(credential_digest(credential), step, nonce))
    return encode_qr_text("CP1:", _cose.dumps([credential, step, nonce, signature]))


def failed(result, check: Check, code: Code) -> None:
    assert not result.verified
    assert result.failures()[0].check == check
    assert result.code == code


# --- round trips -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("profile", "claims"), [("resident-basic", RESIDENT), ("merchant-eligibility", MERCHANT)])
def test_round_trip_returns_profile_claims_and_every_check(profile, claims):
    credential = issue(profile)
    result = verify_cp1(present_cp1(credential, holder_key=HOLDER, now=NOW), trust=TRUST, now=NOW)
    assert result.verified, result.to_json()
    assert dict(result.claims) == claims
    assert [o.check for o in result.outcomes] == STEPS
    assert result.format == "cp1" and result.profile == profile and result.issuer == ISSUER_ID
    assert result.credential_type == (RESIDENT_VCT if profile == "resident-basic" else MERCHANT_VCT)
    assert result.credential_digest == credential_digest(credential)
    assert result.trust_block == 4242 and result.trust_age == 30


def test_verify_presentation_dispatches_cp1_text():
    text = present_cp1(issue(), holder_key=HOLDER, now=NOW, nonce="n0nce")
    assert verify_presentation(f"  {text}\n", trust=TRUST, now=NOW, nonce="n0nce").verified


def test_credential_digest_is_sha256_of_the_cose_bytes():
    import hashlib

    credential = issue()
    assert credential_digest(credential) == hashlib.sha256(credential).digest()
    assert credential[0] == 0xD2  # tag 18: a plain COSE_Sign1 other tools can read


def test_issuer_key_found_among_several_kid8_candidates():
    # The same key registered for two issuers: only the second may issue resident credentials.
    key = IssuerKey(ISSUER.public_key)
    merchants_only = TrustedIssuer("did:example:a", "A", frozenset({MERCHANT_VCT}), (key,))
    residents = TrustedIssuer(ISSUER_ID, "Busan", frozenset({RESIDENT_VCT}), (key,))
    trust = snapshot(issuers=(merchants_only, residents))
    assert len(trust.keys_by_kid8(key.kid8)) == 2
    result = verify_cp1(present_cp1(issue(), holder_key=HOLDER, now=NOW), trust=trust, now=NOW)
    assert result.verified and result.issuer == ISSUER_ID


# --- format ----------------------------------------------------------------------------------------------
def test_alg_other_than_es256_is_refused():
    result = verify_cp1(show(forge({}, alg=-35)), trust=TRUST, now=NOW)  # ES384
    failed(result, Check.FORMAT, Code.UNSUPPORTED_ALGORITHM)


@pytest.mark.parametrize("alg", ["ES256", True])
def test_alg_given_as_text_or_bool_is_refused(alg):
    if alg is True:
        with pytest.raises(MalformedPresentationError):
            verify_cp1(show(forge({}, alg=alg)), trust=TRUST, now=NOW)
    else:
        failed(verify_cp1(show(forge({}, alg=alg)), trust=TRUST, now=NOW), Check.FORMAT, Code.UNSUPPORTED_ALGORITHM)


def test_unknown_profile_is_wrong_type():
    failed(verify_cp1(show(forge({-1: 99})), trust=TRUST, now=NOW), Check.FORMAT, Code.WRONG_TYPE)


@pytest.mark.parametrize("claims", [{1: 26000, 2: 26350}, {1: 26000, 2: 26350, 3: 1}, {1: 260000, 2: 26350, 3: True}])
def test_claims_that_do_not_fit_the_profile_are_malformed(claims):
    failed(verify_cp1(show(forge({-3: claims})), trust=TRUST, now=NOW), Check.FORMAT, Code.MALFORMED)


# --- trust, key, signature -------------------------------------------------------------------------------
def test_unknown_kid_fails_trust():
    failed(verify_cp1(show(issue(signer=OTHER)), trust=TRUST, now=NOW), Check.TRUST, Code.UNKNOWN_KEY)


def test_wrong_issuer_key_under_a_trusted_kid_fails_signature():
    forged = forge({}, signer=OTHER, kid=kid8(ISSUER.public_key.thumbprint_bytes()))
    failed(verify_cp1(show(forged), trust=TRUST, now=NOW), Check.SIGNATURE, Code.SIGNATURE_INVALID)


def test_changed_issuer_signature_fails_signature():
    credential = issue()
    tampered = credential[:-1] + bytes((credential[-1] ^ 1,))
    failed(verify_cp1(show(tampered), trust=TRUST, now=NOW), Check.SIGNATURE, Code.SIGNATURE_INVALID)


def test_forgery_under_a_kid8_shared_by_two_issuers_fails_signature():
    key = IssuerKey(ISSUER.public_key)
    both = (
        TrustedIssuer("did:example:a", "A", frozenset({RESIDENT_VCT}), (key,)),
        TrustedIssuer(ISSUER_ID, "Busan", frozenset({RESIDENT_VCT}), (key,)),
    )
    forged = forge({}, signer=OTHER, kid=key.kid8)
    failed(verify_cp1(show(forged), trust=snapshot(issuers=both), now=NOW), Check.SIGNATURE, Code.SIGNATURE_INVALID)


def test_issuer_not_accredited_for_the_type():
    trust = snapshot(types=frozenset({MERCHANT_VCT}))
    failed(verify_cp1(show(issue()), trust=trust, now=NOW), Check.TRUST, Code.TYPE_NOT_ACCREDITED)


def test_suspended_issuer():
    trust = snapshot(suspended_at=NOW - 10)
    failed(verify_cp1(show(issue()), trust=trust, now=NOW), Check.TRUST, Code.ISSUER_SUSPENDED)


@pytest.mark.parametrize(
    "key",
    [
        IssuerKey(ISSUER.public_key, valid_from=NOW - DAY + 1),
        IssuerKey(ISSUER.public_key, valid_until=NOW - DAY),
        IssuerKey(ISSUER.public_key, revoked_at=NOW - 2 * DAY),
    ],
    ids=["not-yet-valid", "expired-key", "revoked-key"],
)
def test_key_not_valid_at_iat(key):
    failed(verify_cp1(show(issue()), trust=snapshot(key=key), now=NOW), Check.KEY, Code.KEY_NOT_VALID_AT_ISSUANCE)


def test_key_revoked_after_issuance_still_verifies():
    trust = snapshot(key=IssuerKey(ISSUER.public_key, revoked_at=NOW - 10))
    assert verify_cp1(show(issue()), trust=trust, now=NOW).verified


# --- validity and status ---------------------------------------------------------------------------------
def test_expired():
    credential = issue(iat=NOW - 10 * DAY, exp=NOW - DAY)
    failed(verify_cp1(show(credential), trust=TRUST, now=NOW), Check.VALIDITY, Code.EXPIRED)


def test_not_yet_valid():
    credential = issue(iat=NOW + DAY, exp=NOW + 2 * DAY)
    failed(verify_cp1(show(credential), trust=TRUST, now=NOW), Check.VALIDITY, Code.NOT_YET_VALID)


@pytest.mark.parametrize(("value", "code"), [(Status.INVALID, Code.REVOKED), (Status.SUSPENDED, Code.SUSPENDED)])
def test_revoked_or_suspended_in_the_status_list(value, code):
    trust = snapshot(status=StatusList.empty(1 << 16).set(INDEX, value))
    failed(verify_cp1(show(issue()), trust=trust, now=NOW), Check.STATUS, code)


def test_other_indices_in_the_list_do_not_matter():
    trust = snapshot(status=StatusList.empty(1 << 16).set(INDEX + 1, Status.INVALID))
    assert verify_cp1(show(issue()), trust=trust, now=NOW).verified


@pytest.mark.parametrize("kw", [{"status_list_id": LIST_ID + 1}, {"status_index": 1 << 16}])
def test_status_list_missing_or_index_outside_is_unknown(kw):
    failed(verify_cp1(show(issue(**kw)), trust=TRUST, now=NOW), Check.STATUS, Code.STATUS_UNKNOWN)


# --- holder binding --------------------------------------------------------------------------------------
def test_holder_signature_by_another_key():
    result = verify_cp1(show(issue(), holder=OTHER), trust=TRUST, now=NOW)
    failed(result, Check.HOLDER_BINDING, Code.HOLDER_SIGNATURE_INVALID)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("abc", "abd"), (None, "abc"), ("abc", None)],
    ids=["wrong", "missing", "unexpected"],
)
def test_nonce_must_be_exactly_the_verifiers(given, expected):
    text = present_cp1(issue(), holder_key=HOLDER, now=NOW, nonce=given)
    failed(verify_cp1(text, trust=TRUST, now=NOW, nonce=expected), Check.HOLDER_BINDING, Code.NONCE_MISMATCH)


def test_nonce_is_signed_not_just_carried():
    # Swapping the carried nonce for the verifier's breaks the holder signature.
    credential = issue()
    signature = HOLDER.sign(holder_input(credential_digest(credential), NOW // TIME_STEP, "old"))
    text = encode_qr_text("CP1:", _cose.dumps([credential, NOW // TIME_STEP, "new", signature]))
    result = verify_cp1(text, trust=TRUST, now=NOW, nonce="new")
    failed(result, Check.HOLDER_BINDING, Code.HOLDER_SIGNATURE_INVALID)


@pytest.mark.parametrize("shown_at", [NOW - TIME_STEP, NOW + TIME_STEP])
def test_neighbouring_time_steps_are_accepted(shown_at):
    assert verify_cp1(show(issue(), now=shown_at), trust=TRUST, now=NOW).verified


@pytest.mark.parametrize("shown_at", [NOW - 2 * TIME_STEP, NOW + 2 * TIME_STEP, NOW - DAY])
def test_stale_or_future_time_step(shown_at):
    result = verify_cp1(show(issue(), now=shown_at), trust=TRUST, now=NOW)
    failed(result, Check.HOLDER_BINDING, Code.PROOF_NOT_FRESH)


def test_replay_is_accepted_once_per_time_step():
    guard, credential = MemoryReplayGuard(), issue()
    text = present_cp1(credential, holder_key=HOLDER, now=NOW)
    assert verify_cp1(text, trust=TRUST, now=NOW, replay=guard).verified
    failed(verify_cp1(text, trust=TRUST, now=NOW + 1, replay=guard), Check.HOLDER_BINDING, Code.REPLAYED)
    later = present_cp1(credential, holder_key=HOLDER, now=NOW + TIME_STEP)
    assert verify_cp1(later, trust=TRUST, now=NOW + TIME_STEP, replay=guard).verified


def test_replay_key_includes_the_nonce():
    guard, credential = MemoryReplayGuard(), issue()
    for nonce in ("first", "second"):
        text = present_cp1(credential, holder_key=HOLDER, now=NOW, nonce=nonce)
        assert verify_cp1(text, trust=TRUST, now=NOW, nonce=nonce, replay=guard).verified


def test_replay_entry_expires_when_the_step_goes_stale():
    class Recording(MemoryReplayGuard):
        def __init__(self) -> None:
            super().__init__()
            self.expiries: list[int] = []

        def first_use(self, key: bytes, expires_at: int) -> bool:
            self.expiries.append(expires_at)
            return super().first_use(key, expires_at)

    guard = Recording()
    verify_cp1(show(issue()), trust=TRUST, now=NOW, replay=guard)
    step_end = (NOW // TIME_STEP + 2) * TIME_STEP
    assert guard.expiries == [step_end]
    text = show(issue())
    assert verify_cp1(text, trust=TRUST, now=step_end - 1).verified
    failed(verify_cp1(text, trust=TRUST, now=step_end), Check.HOLDER_BINDING, Code.PROOF_NOT_FRESH)


def test_failed_verification_does_not_spend_the_replay_entry():
    guard, text = MemoryReplayGuard(), show(issue())
    failed(verify_cp1(text, trust=snapshot(suspended_at=0), now=NOW, replay=guard), Check.TRUST, Code.ISSUER_SUSPENDED)
    assert verify_cp1(text, trust=TRUST, now=NOW, replay=guard).verified


# --- unparseable input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["", "CP1:", "CP2:BB8", "cp1:BB8", "CP1:bb8", "CP1:A", "CP1:BB8", "CP1:%69 VD92EX0", "CP1:GGW", "CP1:\u00c4BC"],
)
def test_unparseable_text_is_malformed(text):
    with pytest.raises(MalformedPresentationError):
        verify_cp1(text, trust=TRUST, now=NOW)


def test_oversize_text_is_refused_before_decoding():
    with pytest.raises(PayloadTooLargeError):
        verify_cp1("CP1:" + "%" * 1_000, trust=TRUST, now=NOW)  # not even valid Base45


@pytest.mark.parametrize(
    "envelope",
    [
        "not an array",
        ["x", 1, None, b"s" * 64],  # credential not bytes
        [b"\xd2", 1, None, b"s" * 64],  # credential not CBOR
        [None, 1, None],  # three elements
        ["CRED", -1, None, b"s" * 64],  # negative step
        ["CRED", 1, "", b"s" * 64],  # empty nonce
        ["CRED", 1, "n" * 33, b"s" * 64],  # nonce too long
        ["CRED", 1, "a b", b"s" * 64],  # nonce outside the URL-safe set
        ["CRED", 1, None, b"s" * 63],  # short holder signature
        ["CRED", True, None, b"s" * 64],  # bool as step
    ],
)
def test_wrong_envelope_types_are_malformed(envelope):
    if isinstance(envelope, list) and envelope[0] == "CRED":
        envelope[0] = issue()
    with pytest.raises(MalformedPresentationError):
        verify_cp1(encode_qr_text("CP1:", _cose.dumps(envelope)), trust=TRUST, now=NOW)


@pytest.mark.parametrize(
    "claims",
    [
        {9: 1},  # unknown claim
        {4: "tomorrow"},
        {6: -1},
        {6: 1 << 32},
        {8: b"\x04" + bytes(32)},
        {8: HOLDER.public_key.to_bytes(compressed=False)},
        {-1: True},
        {-2: [LIST_ID]},
        {-2: [LIST_ID, 1 << 32]},
        {-3: [1, 2, 3]},
        {-3: {1: "부산광역시", 2: 26350, 3: True}},
        {-3: {1: 26000, 2: 26350, 3: None}},
    ],
)
def test_wrong_claim_types_are_malformed(claims):
    with pytest.raises(MalformedPresentationError):
        verify_cp1(show(forge(claims)), trust=TRUST, now=NOW)


@pytest.mark.parametrize(
    "header",
    [{1: -7}, {1: -7, 4: b"short"}, {1: -7, 4: b"12345678", 2: [1]}, {1: -7, 4: b"12345678", 33: b"x"}],
    ids=["no-kid", "short-kid", "crit", "x5chain"],
)
def test_protected_header_must_be_exactly_alg_and_kid(header):
    credential = _cose.sign1(header, _cose.dumps({}), ISSUER)
    with pytest.raises(MalformedPresentationError):
        verify_cp1(show(credential), trust=TRUST, now=NOW)


def test_unprotected_headers_are_refused():
    sign1 = _cose.parse_sign1(issue())
    import cbor2

    credential = cbor2.dumps(cbor2.CBORTag(18, [sign1.protected, {4: b"12345678"}, sign1.payload, sign1.signature]))
    with pytest.raises(MalformedPresentationError):
        verify_cp1(show(credential), trust=TRUST, now=NOW)


def test_invalid_holder_point_is_a_failed_check_not_a_crash():
    # x = 1 is not the x-coordinate of any P-256 point; the issuer signed it, so the format parses.
    result = verify_cp1(show(forge({8: b"\x02" + (1).to_bytes(32, "big")})), trust=TRUST, now=NOW)
    failed(result, Check.HOLDER_BINDING, Code.MALFORMED)


# --- issuer and holder side ------------------------------------------------------------------------------
def test_issue_refuses_unknown_profile_and_mismatched_claims():
    with pytest.raises(MalformedInputError):
        issue("grant-basic")
    with pytest.raises(MalformedInputError):
        issue(claims={**RESIDENT, "name": "홍길동"})
    with pytest.raises(MalformedInputError):
        issue(claims={"city": "부산광역시", "district": 26350, "age_over_19": True})


@pytest.mark.parametrize("curve", ["secp256k1", "Ed25519"])
def test_issue_refuses_non_p256_keys(curve):
    other = SigningKey.generate(curve)
    with pytest.raises(UnsupportedAlgorithmError):
        issue(signer=other)
    with pytest.raises(UnsupportedAlgorithmError):
        issue(holder_key=other.public_key)


@pytest.mark.parametrize(
    "kw", [{"exp": NOW - DAY}, {"iat": -1}, {"status_index": -1}, {"status_list_id": 1 << 32}, {"iat": True}]
)
def test_issue_refuses_bad_numbers(kw):
    with pytest.raises(MalformedInputError):
        issue(**kw)


def test_issue_refuses_a_credential_that_could_break_the_budget():
    biggest = {**MERCHANT, "market": 2**32 - 1, "programmes": list(range(60_000, 60_008))}
    with pytest.raises(PayloadTooLargeError):
        issue("merchant-eligibility", biggest, status_list_id=2**32 - 1, status_index=2**32 - 1)
    assert len(issue("merchant-eligibility")) <= MAX_CREDENTIAL_BYTES


def test_present_refuses_someone_elses_credential_and_bad_nonces():
    credential = issue()
    with pytest.raises(InvalidKeyError):
        present_cp1(credential, holder_key=OTHER, now=NOW)
    for nonce in ("", "x" * 33, "ünïcode", "with space"):
        with pytest.raises(MalformedInputError):
            present_cp1(credential, holder_key=HOLDER, now=NOW, nonce=nonce)
    with pytest.raises(MalformedInputError):
        present_cp1(credential[:-1], holder_key=HOLDER, now=NOW)


def test_single_use_copies_are_unlinkable_by_their_bytes():
    holders = [SigningKey.generate() for _ in range(2)]
    copies = [issue(holder_key=h.public_key, status_index=INDEX + i) for i, h in enumerate(holders)]
    first, second = (decode_cp1(present_cp1(c, holder_key=h, now=NOW)) for c, h in zip(copies, holders, strict=True))
    assert first.holder_key != second.holder_key and first.credential_digest != second.credential_digest
    assert first.claims == second.claims


# --- inspection ------------------------------------------------------------------------------------------
def test_decode_for_inspect_is_json_and_verifies_nothing():
    text = present_cp1(issue("merchant-eligibility", signer=OTHER), holder_key=HOLDER, now=NOW, nonce="abc")
    decoded = decode_cp1(text)
    doc = json.loads(json.dumps(decoded.to_json(), ensure_ascii=False))
    assert doc["verified"] is False and doc["profile"] == "merchant-eligibility" and doc["vct"] == MERCHANT_VCT
    assert doc["header"] == {"alg": "ES256", "kid": kid8(OTHER.public_key.thumbprint_bytes()).hex()}
    assert doc["claims"]["business_number_digest"] == MERCHANT["business_number_digest"].hex()
    assert doc["claims"]["programmes"] == [1, 2, 5]
    assert doc["status"] == {"list_id": LIST_ID, "index": INDEX}
    assert doc["holder_proof"] == {"time_step": NOW // TIME_STEP, "nonce": "abc"}
    assert doc["size"]["chars"] == len(text) and doc["size"]["bytes"] == (len(text) - 4) * 2 // 3


def test_decode_shows_unknown_profiles_raw():
    doc = decode_cp1(show(forge({-1: 99, -3: {1: 5, 2: b"\x01"}}))).to_json()
    assert doc["profile"] is None and doc["profile_id"] == 99 and doc["claims"] == {"1": 5, "2": "01"}


def test_decode_refuses_garbage_like_verify():
    with pytest.raises(MalformedPresentationError):
        decode_cp1("CP1:BB8")
