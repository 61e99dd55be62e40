import zlib

import pytest

from credcore._b64 import b64u_encode
from credcore.errors import MalformedInputError, PayloadTooLargeError
from credcore.status_list import MAX_LIST_BYTES, Status, StatusList


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_get_round_trip_through_compressed_json(bits):
    sl = StatusList.empty(1000, bits)
    top = (1 << bits) - 1
    for i, v in [(0, 1), (7, top), (999, 1), (500, top)]:
        sl = sl.set(i, v)
    back = StatusList.from_json(sl.to_json())
    assert back == sl
    assert [back.get(i) for i in (0, 7, 999, 500, 1)] == [1, top, 1, top, 0]


def test_draft_example_one_bit():
    # draft-ietf-oauth-status-list §4.1 example: statuses 1,0,0,1,1,1,0,1 | 1,1,0,0,0,1,0,1 -> b9 a3
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    sl = StatusList.empty(16, 1)
    for i, v in enumerate(statuses):
        sl = sl.set(i, v)
    assert sl.data == bytes([0xB9, 0xA3])


def test_draft_example_two_bits():
    # §4.1 two-bit example: 1,2,0,3,0,1,0,1,1,2,3,3 -> c9 44 f9
    statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    sl = StatusList.empty(12, 2)
    for i, v in enumerate(statuses):
        sl = sl.set(i, v)
    assert sl.data == bytes([0xC9, 0x44, 0xF9])
    assert sl.get(1) == Status.SUSPENDED


def test_index_outside_list_is_refused():
    with pytest.raises(MalformedInputError):
        StatusList.empty(8, 1).get(8)


def test_zlib_bomb_is_refused():
    bomb = zlib.compress(bytes(MAX_LIST_BYTES + 10))
    with pytest.raises(PayloadTooLargeError):
        StatusList.from_json({"bits": 1, "lst": b64u_encode(bomb)})


@pytest.mark.parametrize(
    "claim",
    [
        None,
        [],
        {"bits": 3, "lst": ""},
        {"bits": True, "lst": ""},
        {"bits": 1},
        {"bits": 1, "lst": "!!"},
        {"bits": 1, "lst": b64u_encode(b"not zlib")},
        {"bits": 1, "lst": b64u_encode(zlib.compress(b"abc")[:-3])},
    ],
)
def test_malformed_claims_are_refused(claim):
    with pytest.raises(MalformedInputError):
        StatusList.from_json(claim)


def test_stricter_only_takes_revocations_and_suspensions_but_never_relaxes():
    from credcore.status_list import stricter_only

    held = StatusList.empty(64).set(1, Status.INVALID).set(2, Status.SUSPENDED).set(5, Status.SUSPENDED)
    newer = StatusList.empty(64).set(3, Status.INVALID).set(4, Status.SUSPENDED).set(5, Status.INVALID)
    merged = stricter_only(held, newer)
    # 1 and 2 would be relaxed (revoked or suspended -> valid): kept; 3, 4 and 5 become stricter: taken.
    assert [merged.get(i) for i in range(7)] == [0, 1, 2, 1, 2, 1, 0]
    assert stricter_only(held, held) is held


def test_stricter_only_refuses_a_list_of_another_shape():
    from credcore.status_list import stricter_only

    with pytest.raises(MalformedInputError):
        stricter_only(StatusList.empty(64), StatusList.empty(128))
