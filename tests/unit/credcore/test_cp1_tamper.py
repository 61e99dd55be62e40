"""Any single changed byte of a CP1 presentation fails a check or is refused as malformed; nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credcore.cp1 import PREFIX, issue_cp1, present_cp1, verify_cp1
from credcore.errors import MalformedInputError
from credcore.keys import SigningKey
from credcore.profiles import business_number_digest
from credcore.qr import b45decode, encode_qr_text
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

NOW = 1_795_000_000  # tests/conftest.py FIXED_NOW (not imported: other folders have a conftest too)
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
TRUST = TrustSnapshot(
    issuers=(
        TrustedIssuer(
            "did:ethr:0x7a69:0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "부산광역시",
            frozenset({"urn:civicpass:ResidentCredential:1", "urn:civicpass:MerchantCredential:1"}),
            (IssuerKey(ISSUER.public_key),),
        ),
    ),
    status_lists=(
        StatusListRecord(
            "did:ethr:0x7a69:0x5FbDB2315678afecb367f032d93F642f64180aa3", 7, "https://x/7", StatusList.empty(1 << 16)
        ),
    ),
)
COMMON = {"signer": ISSUER, "holder_key": HOLDER.public_key, "status_list_id": 7, "status_index": 4321}
RESIDENT = issue_cp1(
    {"city": 26000, "district": 26350, "age_over_19": True},
    profile="resident-basic",
    iat=NOW - 100,
    exp=NOW + 86_400,
    **COMMON,
)
MERCHANT = issue_cp1(
    {
        "business_number_digest": business_number_digest("6178112345"),
        "market": 26110003,
        "small_business": False,
        "programmes": [3, 17],
    },
    profile="merchant-eligibility",
    iat=NOW - 100,
    exp=NOW + 86_400,
    **COMMON,
)
PRESENTATIONS = [
    b45decode(present_cp1(cred, holder_key=HOLDER, now=NOW, nonce=nonce)[len(PREFIX) :])
    for cred in (RESIDENT, MERCHANT)
    for nonce in (None, "verifier-nonce-1")
]


def verify(data: bytes, nonce: str | None):
    return verify_cp1(encode_qr_text(PREFIX, data), trust=TRUST, now=NOW, nonce=nonce)


def test_untampered_presentations_verify():
    for i, data in enumerate(PRESENTATIONS):
        assert verify(data, "verifier-nonce-1" if i % 2 else None).verified


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(PRESENTATIONS) - 1), st.data())
def test_any_single_changed_byte_is_caught(which, data):
    original = PRESENTATIONS[which]
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != original[position]), label="new byte")
    tampered = original[:position] + bytes((value,)) + original[position + 1 :]
    try:
        result = verify(tampered, "verifier-nonce-1" if which % 2 else None)
    except MalformedInputError:
        return
    assert not result.verified
    assert result.code is not None


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(PRESENTATIONS) - 1), st.data())
def test_truncated_or_extended_presentations_are_caught(which, data):
    original = PRESENTATIONS[which]
    cut = data.draw(st.integers(0, len(original) - 1))
    extra = data.draw(st.binary(min_size=1, max_size=4))
    for changed in (original[:cut], original + extra, original[:cut] + extra + original[cut:]):
        try:
            result = verify(changed, None)
        except MalformedInputError:
            continue
        assert not result.verified


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_text_after_the_prefix_never_crashes(text):
    try:
        result = verify_cp1(PREFIX + text, trust=TRUST, now=NOW)
    except MalformedInputError:
        return
    assert not result.verified  # pragma: no cover - a random text that parses cannot carry valid signatures
