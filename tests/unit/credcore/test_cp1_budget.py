"""CP1 size budget: at most 300 bytes before Base45, a QR code of version 13 or lower at ECC level M.

segno is used here only to compute the QR version a payload needs; credcore itself draws nothing.
"""

from __future__ import annotations

import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from credcore.cp1 import MAX_NONCE_CHARS, MAX_PRESENTATION_BYTES, PREFIX, issue_cp1, present_cp1
from credcore.errors import PayloadTooLargeError
from credcore.keys import SigningKey
from credcore.profiles import PROFILES, business_number_digest
from credcore.qr import b45decode

NOW = 1_795_000_000  # tests/conftest.py FIXED_NOW (not imported: other folders have a conftest too)
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))
YEAR = 365 * 86_400
# Realistic values: 부산광역시 (26000) 해운대구 (26350); a merchant in 자갈치시장 under three programmes;
# a list of one million entries per issuer, ten-year timestamps ahead.
CASES = {
    "resident-basic": {"city": 26000, "district": 26350, "age_over_19": True},
    "merchant-eligibility": {
        "business_number_digest": business_number_digest("617-81-12345"),
        "market": 26110_003,
        "small_business": True,
        "programmes": [1, 4, 12],
    },
}
LONGEST_NONCE = "N" * MAX_NONCE_CHARS


def qr_version(text: str) -> int:
    qr = segno.make_qr(text, error="m", boost_error=False)
    assert qr.mode == "alphanumeric" and qr.error == "M"
    return int(qr.version)


def present(profile: str, claims: dict, nonce: str | None) -> str:
    credential = issue_cp1(
        claims,
        profile=profile,
        signer=ISSUER,
        holder_key=HOLDER.public_key,
        status_list_id=65_535,
        status_index=999_999,
        iat=NOW + 10 * YEAR,
        exp=NOW + 11 * YEAR,
    )
    return present_cp1(credential, holder_key=HOLDER, now=NOW + 10 * YEAR, nonce=nonce)


def test_realistic_presentations_fit_300_bytes_and_qr_version_13_m(record_property):
    for profile, claims in CASES.items():
        for nonce in (None, "k3xV9q2LrT0bWm7Zp1Yd8A", LONGEST_NONCE):
            text = present(profile, claims, nonce)
            size = len(b45decode(text[len(PREFIX) :]))
            version = qr_version(text)
            record_property(f"{profile}/nonce={len(nonce or '')}", f"{size} bytes, QR v{version}-M")
            assert size <= MAX_PRESENTATION_BYTES == 300
            assert version <= 13


def test_exact_sizes_are_stable():
    # Pinned so a format change that costs bytes is a visible decision, not an accident.
    sizes = {p: len(b45decode(present(p, c, None)[len(PREFIX) :])) for p, c in CASES.items()}
    assert sizes == {"resident-basic": 233, "merchant-eligibility": 254}


claim_values = {
    "resident-basic": st.fixed_dictionaries(
        {"city": st.integers(0, 99_999), "district": st.integers(0, 99_999), "age_over_19": st.booleans()}
    ),
    "merchant-eligibility": st.fixed_dictionaries(
        {
            "business_number_digest": st.binary(min_size=16, max_size=16),
            "market": st.integers(0, 2**32 - 1),
            "small_business": st.booleans(),
            "programmes": st.lists(st.integers(0, 0xFFFF), max_size=8, unique=True),
        }
    ),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(PROFILES)), st.data(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_every_credential_issue_accepts_presents_within_budget(profile, data, list_id, index):
    claims = data.draw(claim_values[profile])
    try:
        credential = issue_cp1(
            claims,
            profile=profile,
            signer=ISSUER,
            holder_key=HOLDER.public_key,
            status_list_id=list_id,
            status_index=index,
            iat=2**32 - 2,
            exp=2**32 - 1,
        )
    except PayloadTooLargeError:
        return
    text = present_cp1(credential, holder_key=HOLDER, now=2**32 - 1, nonce=LONGEST_NONCE)
    assert len(b45decode(text[len(PREFIX) :])) <= MAX_PRESENTATION_BYTES
    assert qr_version(text) <= 13
