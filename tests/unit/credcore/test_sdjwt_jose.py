"""The SD-JWT hot-path decoders agree with credcore._b64 and credcore.jws on every input (differential tests)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore._sdjwt_jose import b64u, json_bytes, json_object, json_value, parse_jws, sign_jws
from credcore._sdjwt_jose import b64u_encode as fast_encode
from credcore.errors import CredError, MalformedInputError
from credcore.keys import SigningKey, parse_json_object

KEY = SigningKey.from_secret("P-256", bytes(range(1, 33)))
ES256 = frozenset({"ES256"})
TOKEN = jws.sign({"iss": "x", "n": [1, 2.5, None], "s": "서울"}, KEY, header={"typ": "dc+sd-jwt", "kid": "k"})
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .é\n"


def _outcome(fn, arg):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(arg))
    except MalformedInputError:
        return ("malformed", None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=B64_CHARS, max_size=12))
def test_b64u_agrees_with_the_strict_decoder(text: str) -> None:
    assert _outcome(b64u, text) == _outcome(b64u_decode, text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_b64u_encode_round_trips(data: bytes) -> None:
    assert fast_encode(data) == b64u_encode(data)
    assert b64u(fast_encode(data)) == data


@pytest.mark.parametrize(
    "raw",
    [b'{"a":1}', b' {"a": [1, {"b": null}]}\n', b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b'{"a":NaN}',
     b'{"a":Infinity}', b"[1]", b'"s"', b"{", b'{"a":1} x', b"", b"\xff", '{"é":"서울"}'.encode()],
)
def test_json_object_agrees_with_parse_json_object(raw: bytes) -> None:
    assert _outcome(lambda r: json_object(r, "x"), raw) == _outcome(lambda r: parse_json_object(r, "x"), raw)


@pytest.mark.parametrize("raw", ['{"a":1}'.encode("utf-16"), b'{"a":"\xed\xaa\xb8"}', b'\xef\xbb\xbf{"a":1}'])
def test_json_value_refuses_what_is_not_strict_utf8(raw: bytes) -> None:
    # RFC 8259 §8.1 / RFC 7515 §2: UTF-8 only; json.loads(bytes) would take UTF-16, a BOM and lone surrogates.
    json.loads(raw)
    with pytest.raises(MalformedInputError):
        json_value(raw, "x")


def test_json_bytes_matches_jws_sign_form() -> None:
    assert json_bytes({"a": "서울", "b": [1, None]}) == json.dumps(
        {"a": "서울", "b": [1, None]}, separators=(",", ":"), ensure_ascii=False
    ).encode()


def test_sign_jws_output_is_what_jws_verify_accepts() -> None:
    token = sign_jws({"a": 1}, KEY, {"typ": "kb+jwt"})
    parsed = jws.verify(token, KEY.public_key, typ="kb+jwt")
    assert parsed.header == {"alg": "ES256", "typ": "kb+jwt"} and parsed.payload == {"a": 1}
    assert token.split(".")[:2] == jws.sign({"a": 1}, KEY, header={"typ": "kb+jwt"}).split(".")[:2]


def _parse_both(token: str) -> tuple[object, object]:
    def ours(t: str) -> object:
        p = parse_jws(t, ES256)
        return (p.header, p.payload, p.signing_input, p.signature)

    def theirs(t: str) -> object:
        p = jws.parse(t, algorithms=ES256)
        return (p.header, p.payload, p.signing_input, p.signature)

    results = []
    for fn in (ours, theirs):
        try:
            results.append(("ok", fn(token)))
        except CredError as exc:
            results.append((exc.code, None))
    return results[0], results[1]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1), st.sampled_from(list(B64_CHARS)))
def test_parse_jws_agrees_with_jws_parse_on_single_character_changes(pos: int, char: str) -> None:
    mutated = TOKEN[:pos] + char + TOKEN[pos + 1 :]
    ours, theirs = _parse_both(mutated)
    if ours != theirs:  # the one intended difference: json.loads lets invalid UTF-8 (lone surrogates) through
        assert ours[0] == "malformed_input" and theirs[0] == "ok"
        header, payload = (b64u_decode(part) for part in mutated.split(".")[:2])
        with pytest.raises(UnicodeDecodeError):
            (header + payload).decode("utf-8")


@pytest.mark.parametrize(
    "header",
    [{"alg": "none"}, {"alg": "HS256"}, {"alg": "ES256", "crit": ["x"]}, {"alg": "ES256K"}, {"typ": "x"}],
)
def test_parse_jws_refuses_headers_like_jws_parse(header: dict[str, object]) -> None:
    head = b64u_encode(json.dumps(header).encode())
    token = f"{head}.{TOKEN.split('.')[1]}.{TOKEN.split('.')[2]}"
    ours, theirs = _parse_both(token)
    assert ours == theirs and ours[0] != "ok"


def test_parse_jws_refuses_oversized_and_wrongly_split_tokens() -> None:
    for token in ("a.b", "a.b.c.d", "x" * (jws.MAX_JWS_BYTES + 1)):
        ours, theirs = _parse_both(token)
        assert ours == theirs and ours[0] != "ok"
