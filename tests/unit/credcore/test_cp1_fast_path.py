"""The fixed-layout readers in credcore.cp1.codec agree with the general CBOR path, or step aside.

``read_presentation`` / ``read_credential`` read the layout every issued CP1 presentation has, at fixed
offsets; on anything else they return None and the general path (``decode_presentation``) decides. So
for any bytes at all, the fast reader must either return None or exactly what the general path returns
(compared by ``repr``, so that ``True`` and ``1`` differ), and never accept what the general path refuses.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credcore.cp1 import PREFIX, codec, issue_cp1, present_cp1
from credcore.errors import MalformedInputError
from credcore.keys import SigningKey
from credcore.profiles import business_number_digest
from credcore.qr import b45decode

NOW = 1_795_000_000
ISSUER = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HOLDER = SigningKey.from_secret("P-256", bytes(range(2, 34)))


def _credential(profile: str, *, list_id: int = 7, index: int = 4321, programmes: list[int] | None = None,
                market: int = 26110003, iat: int = NOW - 100, exp: int = NOW + 86_400) -> bytes:
    if profile == "resident-basic":
        claims: dict[str, object] = {"city": 26000, "district": 26350, "age_over_19": True}
    else:
        claims = {
            "business_number_digest": business_number_digest("6178112345"),
            "market": market,
            "small_business": False,
            "programmes": [3, 17] if programmes is None else programmes,
        }
    return issue_cp1(claims, profile=profile, signer=ISSUER, holder_key=HOLDER.public_key, status_list_id=list_id,
                     status_index=index, iat=iat, exp=exp)


def _presentation(credential: bytes, *, now: int = NOW, nonce: str | None = None) -> bytes:
    return b45decode(present_cp1(credential, holder_key=HOLDER, now=now, nonce=nonce)[len(PREFIX) :])


# Integers at every head size the layout meets, both profiles, nonces of every length class.
CREDENTIALS = [
    _credential("resident-basic"),
    _credential("merchant-eligibility"),
    _credential("resident-basic", list_id=0, index=0),
    _credential("resident-basic", list_id=23, index=23),
    _credential("resident-basic", list_id=24, index=255),
    _credential("resident-basic", list_id=256, index=65_535),
    _credential("resident-basic", list_id=2**32 - 1, index=2**32 - 1),
    _credential("merchant-eligibility", programmes=[], market=0),
    _credential("merchant-eligibility", programmes=[0, 23, 24, 255, 256, 65_535], market=23),
    _credential("merchant-eligibility", programmes=[1, 2, 3, 4, 5, 6, 7, 8], market=2**32 - 1),
    _credential("resident-basic", iat=10, exp=20),  # small times: not the common layout, the general path reads it
    _credential("resident-basic", iat=65_536, exp=2**32 - 1),
]
PRESENTATIONS = [
    _presentation(cred, now=now, nonce=nonce)
    for cred in CREDENTIALS
    for now, nonce in ((NOW, None), (NOW, "n"), (NOW, "verifier-nonce-1"), (NOW, "x" * 24), (NOW, "A" * 32), (0, None))
]


def _general(data: bytes) -> str | None:
    try:
        return repr(codec.decode_presentation(data))
    except MalformedInputError:
        return None


def _agree(data: bytes) -> bool:
    """The fast reader returned None or what the general path returns (so never accepted what it refuses)."""
    fast = codec.read_presentation(data)
    return fast is None or repr(fast) == _general(data)


@pytest.mark.parametrize("data", PRESENTATIONS, ids=range(len(PRESENTATIONS)))
def test_the_common_layout_is_read_fast_and_identically(data):
    fast = codec.read_presentation(data)
    general = codec.decode_presentation(data)
    if general.credential.iat < 0x1_0000:  # the one layout difference in the list above
        assert fast is None
    else:
        assert fast is not None and repr(fast) == repr(general)
        raw = general.credential.raw
        assert repr(codec.read_credential(raw)) == repr(codec.decode_credential(raw))


# Byte values that are CBOR heads of every kind the layout uses, or just beside them.
INTERESTING = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x20, 0x21, 0x22,
                         0x37, 0x40, 0x48, 0x57, 0x58, 0x59, 0x60, 0x77, 0x78, 0x79, 0x80, 0x82, 0x84, 0x97, 0x98,
                         0xA0, 0xA2, 0xA6, 0xB7, 0xB8, 0xC2, 0xD2, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFF})


@pytest.mark.parametrize(("which", "every_value"), [(0, False), (8, False), (31, False), (50, True), (53, False)])
def test_every_single_byte_change_is_read_identically_or_handed_over(which, every_value):
    data = PRESENTATIONS[which]
    for i in range(len(data)):
        values = range(256) if every_value else {*INTERESTING, data[i] ^ 0x01, data[i] ^ 0x80}
        for value in values:
            if value != data[i]:
                changed = data[:i] + bytes((value,)) + data[i + 1 :]
                assert _agree(changed), (i, value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(PRESENTATIONS) - 1), st.data())
def test_any_edit_is_read_identically_or_handed_over(which, data):
    original = PRESENTATIONS[which]
    start = data.draw(st.integers(0, len(original)))
    end = data.draw(st.integers(start, min(len(original), start + 4)))
    insert = data.draw(st.binary(max_size=4))
    assert _agree(original[:start] + insert + original[end:])


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_read_identically_or_handed_over(data):
    assert _agree(data)
    if data:
        assert _agree(PRESENTATIONS[0][:3] + data)
