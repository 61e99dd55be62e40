"""``civicpass inspect`` and ``civicpass verify``: formats from the outside, for integrators.

INPUT is the text itself, a path to a file holding it or a QR image (PNG/JPEG, decoded with zxing-cpp
through :mod:`verifier.scan`), or ``-`` for standard input. Understood texts: SD-JWT VC presentations,
``CP1:`` QR credentials, Status List Tokens (``statuslist+jwt``) and plain compact JWS.

``verify`` checks offline against issuer keys given as JWK/JWKS files (trusted for any issuer and type,
as :meth:`TrustSnapshot.from_issuer_jwks` says; a JWK without ``kid`` answers to any header ``kid``). An
SD-JWT whose issuer JWT has ``typ: dc+sd-jwt`` is checked as an SD-JWT VC (civicpass's strict profile);
any other SD-JWT as plain RFC 9901, and the output names the format it checked. Exit 0 verified, 1 not
verified, 2 input or options it cannot use, always with one line on stderr and never a traceback:
integrators script around this.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from credcore._b64 import b64u_decode
from credcore.errors import CredError, MalformedInputError, PayloadTooLargeError, SignatureError
from credcore.keys import PublicKey, parse_json_object
from credcore.trust import ANY_ISSUER, StatusListRecord, TrustSnapshot

#: Largest INPUT read (a phone photo of a QR code); text beyond MAX_TEXT_BYTES is refused too.
MAX_INPUT_BYTES: Final = 16 * 1024 * 1024
MAX_TEXT_BYTES: Final = 1024 * 1024
_STATUS_LIST_TYP: Final = "statuslist+jwt"
_LIST_PREVIEW: Final = 50
_VC_TYP: Final = "dc+sd-jwt"
_PLAIN_SD_JWT: Final = "sd-jwt"
#: ``VerificationResult.format`` as the human output names it.
_FORMAT_NAMES: Final = {"sd-jwt-vc": "sd-jwt-vc (SD-JWT VC, typ dc+sd-jwt)", "sd-jwt": "sd-jwt (plain RFC 9901)",
                        "cp1": "cp1 (CP1: QR credential)"}


def register(sub: Any) -> None:
    p = sub.add_parser("inspect", help="decode an SD-JWT, a CP1: text, a status list JWT or a QR image, unverified")
    p.add_argument("input", help="the text, a file (text or PNG/JPEG QR image), or - for stdin")
    p.set_defaults(func=run_inspect)

    v = sub.add_parser("verify", help="verify a presentation or a status list JWT offline against issuer keys")
    v.add_argument("input", help="the text, a file (text or PNG/JPEG QR image), or - for stdin")
    v.add_argument("--issuer-jwk", action="append", default=[], metavar="FILE", help="issuer public JWK or JWKS")
    v.add_argument("--status-list", action="append", default=[], metavar="FILE", help="status list JWT to use")
    v.add_argument("--nonce", help="the nonce the holder proof must carry")
    v.add_argument("--aud", help="the audience the key-binding JWT must name")
    v.add_argument("--at", metavar="ISO-TIME", help="verify as of this time (default: now; naive times are UTC)")
    v.add_argument("--json", action="store_true", help="print the full result as JSON")
    v.set_defaults(func=run_verify)


# --- input ------------------------------------------------------------------------------------------
def _read_bounded(stream: Any) -> bytes:
    data: bytes = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise PayloadTooLargeError("input is larger than 16 MiB")
    return data


def read_input(arg: str) -> str:
    """Resolve INPUT to text, decoding a QR image when given one."""
    if arg == "-":
        data = _read_bounded(sys.stdin.buffer)
    else:
        path = Path(arg)
        try:
            is_file = path.is_file()
        except (OSError, ValueError):  # a long presentation or one with NUL is not a usable path
            is_file = False
        if not is_file:
            return _as_text(arg.encode("utf-8", "surrogateescape"))
        with path.open("rb") as fh:
            data = _read_bounded(fh)
    from verifier.scan import decode_qr_image, is_image

    if is_image(data):
        texts = decode_qr_image(data)
        if not texts:
            raise MalformedInputError("no QR code found in the image")
        return _as_text(texts[0].encode("utf-8"))
    return _as_text(data)


def _as_text(data: bytes) -> str:
    if len(data) > MAX_TEXT_BYTES:
        raise PayloadTooLargeError("text input is larger than 1 MiB")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MalformedInputError("input is neither UTF-8 text nor a PNG/JPEG image") from None
    if not text or any(ord(c) < 0x20 and c not in "\t\r\n" for c in text):
        raise MalformedInputError("input is empty or binary, not a credential text or a PNG/JPEG image")
    return text


def classify(text: str) -> str:
    """``cp1``, ``sd-jwt``, ``statuslist+jwt`` or ``jws``; raises for anything else."""
    if text.startswith("CP1:"):
        return "cp1"
    if "~" in text or text.startswith("{"):
        return "sd-jwt"
    parts = text.split(".")
    if len(parts) == 3:
        header = parse_json_object(b64u_decode(parts[0]), "JWS header")
        return _STATUS_LIST_TYP if header.get("typ") == _STATUS_LIST_TYP else "jws"
    raise MalformedInputError("input is not a file, an SD-JWT, a CP1: text, a status list JWT or a JWS")


def sd_jwt_format(text: str) -> str:
    """``dc+sd-jwt`` when the issuer JWT says so (checked as an SD-JWT VC), else ``sd-jwt`` (plain RFC 9901)."""
    from credcore.sdjwt import unsafe_decode

    header = unsafe_decode(text).get("header") or {}
    return _VC_TYP if isinstance(header, dict) and header.get("typ") == _VC_TYP else _PLAIN_SD_JWT


# --- inspect ------------------------------------------------------------------------------------------
def _describe_status_list(text: str) -> dict[str, Any]:
    from credcore.status_list import Status, status_list_digest, unsafe_decode_status_list_jwt

    header, parsed = unsafe_decode_status_list_jwt(text)
    sl = parsed.status_list
    entries = [sl.get(i) for i in range(sl.size)]
    names = {int(s): s.name for s in Status}
    counts: dict[str, int] = {}
    for value in entries:
        counts[names.get(value, str(value))] = counts.get(names.get(value, str(value)), 0) + 1
    not_valid = [[i, names.get(v, v)] for i, v in enumerate(entries) if v != Status.VALID]
    return {
        "format": _STATUS_LIST_TYP,
        "verified": False,
        "header": header,
        "uri": parsed.uri,
        "iat": parsed.iat,
        "exp": parsed.exp,
        "ttl": parsed.ttl,
        "status_list": {"bits": sl.bits, "size": sl.size, "counts": counts, "not_valid": not_valid[:_LIST_PREVIEW]},
        "digest": status_list_digest(text).hex(),
    }


def describe(text: str) -> dict[str, Any]:
    """Decode without verifying."""
    kind = classify(text)
    if kind == "cp1":
        from credcore.cp1 import decode_cp1

        return {"format": "cp1", **decode_cp1(text).to_json()}
    if kind == "sd-jwt":
        from credcore.sdjwt import unsafe_decode

        return {"format": "sd-jwt", "verified": False, **unsafe_decode(text)}
    if kind == _STATUS_LIST_TYP:
        return _describe_status_list(text)
    head, payload, _ = text.split(".")
    return {
        "format": "jws",
        "verified": False,
        "header": parse_json_object(b64u_decode(head), "JWS header"),
        "payload": parse_json_object(b64u_decode(payload), "JWS payload"),
    }


def run_inspect(args: argparse.Namespace) -> int:
    try:
        print(json.dumps(describe(read_input(args.input)), indent=2, ensure_ascii=False, default=str))
    except Exception as exc:  # one line, never a traceback (see module docstring)
        return _fail(exc)
    return 0


# --- verify -------------------------------------------------------------------------------------------
def _load_jwks(paths: list[str]) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    for p in paths:
        doc = parse_json_object(_read_file(p, MAX_TEXT_BYTES), f"issuer JWK file {p}")
        found = doc.get("keys", [doc])
        if not isinstance(found, list) or not all(isinstance(k, dict) for k in found):
            raise MalformedInputError("JWKS 'keys' must be a list of JWKs")
        keys.extend(found)
    return keys


def _read_file(path: str, limit: int) -> bytes:
    with Path(path).open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"{path} is too large")
    return data


def _verify_status_list(token: str, keys: list[PublicKey], now: int) -> tuple[Any, CredError | None]:
    """The parsed list under the first key that verifies it, or the last refusal."""
    from credcore.status_list import verify_status_list_jwt

    if not keys:
        raise MalformedInputError("a status list needs the issuer's key: --issuer-jwk FILE")
    refusal: CredError = SignatureError()
    for key in keys:
        try:
            return verify_status_list_jwt(token, key, now=now, expected_uri=None), None
        except MalformedInputError:
            raise
        except CredError as exc:
            refusal = exc
    return None, refusal


def _load_status_lists(paths: list[str], keys: list[PublicKey], now: int) -> list[StatusListRecord]:
    records = []
    for p in paths:
        token = _as_text(_read_file(p, MAX_TEXT_BYTES))
        parsed, refusal = _verify_status_list(token, keys, now)
        if parsed is None:
            raise MalformedInputError(f"status list {p} is not usable: {getattr(refusal, 'code', 'refused')}")
        list_id = parsed.uri.rstrip("/").rsplit("/", 1)[-1]  # issuers serve <base>/status-lists/<list id>
        records.append(
            StatusListRecord(
                issuer_id=ANY_ISSUER,
                list_id=int(list_id) if list_id.isdigit() else -1,
                uri=parsed.uri,
                status_list=parsed.status_list,
            )
        )
    return records


def _parse_time(value: str | None) -> int:
    if value is None:
        from credcore._defaults import SystemClock

        return SystemClock().now()
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedInputError("--at is not an ISO 8601 time") from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _verify_token(text: str, kind: str, keys: list[PublicKey], now: int) -> dict[str, Any]:
    """Verdict on a status list JWT or a plain JWS (signature, and for a status list its ``exp``)."""
    from credcore import jws
    from credcore.keys import ALGORITHMS

    out: dict[str, Any] = {"format": kind}
    if kind == _STATUS_LIST_TYP:
        from credcore.status_list import status_list_digest

        parsed, refusal = _verify_status_list(text, keys, now)
        out.update(verified=parsed is not None, code=getattr(refusal, "code", None))
        out["digest"] = status_list_digest(text).hex()
        if parsed is not None:
            out.update(uri=parsed.uri, size=parsed.status_list.size, bits=parsed.status_list.bits, exp=parsed.exp)
        return out
    jws.parse(text, algorithms=frozenset(ALGORITHMS))  # malformed -> exit 2 before any key is tried
    if not keys:
        raise MalformedInputError("a JWS needs the signer's key: --issuer-jwk FILE")
    for key in keys:
        try:
            parsed_jws = jws.verify(text, key, algorithms=frozenset(ALGORITHMS))
        except CredError as exc:
            out["code"] = exc.code
            continue
        return {**out, "verified": True, "code": None, "header": parsed_jws.header, "payload": parsed_jws.payload}
    return {**out, "verified": False}


def run_verify(args: argparse.Namespace) -> int:
    from credcore.presentations import verify_presentation

    try:
        now = _parse_time(args.at)
        jwks = _load_jwks(args.issuer_jwk)
        keys = [PublicKey.from_jwk(j) for j in jwks]
        text = read_input(args.input)
        kind = classify(text)
        if kind in (_STATUS_LIST_TYP, "jws"):
            verdict = _verify_token(text, kind, keys, now)
            _print_token_verdict(verdict, args.json)
            return 0 if verdict["verified"] else 1
        trust = TrustSnapshot.from_issuer_jwks(
            {ANY_ISSUER: jwks}, status_lists=_load_status_lists(args.status_list, keys, now)
        )
        if kind == "sd-jwt" and sd_jwt_format(text) == _PLAIN_SD_JWT:
            from credcore.sdjwt import verify_sd_jwt

            result = verify_sd_jwt(text, trust=trust, now=now, audience=args.aud, nonce=args.nonce)
        else:
            result = verify_presentation(text, trust=trust, now=now, audience=args.aud, nonce=args.nonce)
    except Exception as exc:  # one line, never a traceback (see module docstring)
        return _fail(exc)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=_plain))
    else:
        print("VERIFIED" if result.verified else f"NOT VERIFIED ({result.code})")
        print(f"  format: {_FORMAT_NAMES.get(result.format, result.format)}")
        for o in result.outcomes:
            print(f"  {'ok  ' if o.passed else 'FAIL'} {o.check:<15} {o.code or ''}")
        for name, value in result.claims.items():
            print(f"  {name}: {json.dumps(value, ensure_ascii=False, default=_plain)}")
    return 0 if result.verified else 1


def _plain(value: Any) -> str:
    """A claim JSON has no type for: bytes (a CP1 digest claim) in hex, as ``inspect`` shows them."""
    return value.hex() if isinstance(value, bytes) else str(value)


def _print_token_verdict(verdict: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(verdict, indent=2, ensure_ascii=False, default=str))
        return
    print("VERIFIED" if verdict["verified"] else f"NOT VERIFIED ({verdict['code']})")
    for name in ("format", "uri", "bits", "size", "exp", "digest"):
        if verdict.get(name) is not None:
            print(f"  {name}: {verdict[name]}")


def _fail(exc: Exception) -> int:
    if isinstance(exc, CredError):
        print(f"civicpass: {exc.code}: {exc.detail}", file=sys.stderr)
    elif isinstance(exc, OSError):
        print(f"civicpass: cannot read input: {exc.strerror or exc.__class__.__name__}", file=sys.stderr)
    else:  # a bug in a decoder: still one line, without the input's content
        print(f"civicpass: internal_error: {exc.__class__.__name__}", file=sys.stderr)
    return 2
