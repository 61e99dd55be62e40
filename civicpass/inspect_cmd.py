"""``civicpass inspect`` and ``civicpass verify``: formats from the outside, for integrators.

INPUT is the presentation text itself, a path to a file holding it or a QR image (PNG/JPEG, decoded
with zxing-cpp), or ``-`` for standard input. ``verify`` checks offline against issuer keys given as
JWK files; exit 0 verified, 1 not verified, 2 input it cannot parse. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from credcore.errors import CredError, MalformedInputError
from credcore.keys import PublicKey, parse_json_object
from credcore.trust import ANY_ISSUER, StatusListRecord, TrustSnapshot

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
MAX_INPUT_BYTES = 16 * 1024 * 1024


def register(sub: Any) -> None:
    p = sub.add_parser("inspect", help="decode an SD-JWT, a CP1: text or a QR image without verifying")
    p.add_argument("input", help="the text, a file (text or PNG/JPEG QR image), or - for stdin")
    p.set_defaults(func=run_inspect)

    v = sub.add_parser("verify", help="verify a presentation offline against issuer keys")
    v.add_argument("input", help="the text, a file (text or PNG/JPEG QR image), or - for stdin")
    v.add_argument("--issuer-jwk", action="append", default=[], metavar="FILE", help="issuer public JWK or JWKS")
    v.add_argument("--status-list", action="append", default=[], metavar="FILE", help="status list JWT to use")
    v.add_argument("--nonce", help="the nonce the holder proof must carry")
    v.add_argument("--aud", help="the audience the key-binding JWT must name")
    v.add_argument("--at", metavar="ISO-TIME", help="verify as of this time (default: now)")
    v.add_argument("--json", action="store_true", help="print the full result as JSON")
    v.set_defaults(func=run_verify)


def read_input(arg: str) -> str:
    """Resolve INPUT to presentation text (decoding a QR image when given one)."""
    if arg == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    else:
        path = Path(arg)
        try:
            is_file = path.is_file()
        except OSError:  # e.g. a very long presentation text is not a valid path
            is_file = False
        if not is_file:
            return arg
        with path.open("rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise MalformedInputError("input is larger than 16 MiB")
    if data.startswith(_IMAGE_MAGIC):
        from verifier.scan import decode_qr_image

        texts = decode_qr_image(data)
        if not texts:
            raise MalformedInputError("no QR code found in the image")
        return texts[0]
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MalformedInputError("input is neither UTF-8 text nor a PNG/JPEG image") from None


def describe(text: str) -> dict[str, Any]:
    """Decode without verifying."""
    if text.startswith("CP1:"):
        from credcore.cp1 import decode_cp1

        return {"format": "cp1", **decode_cp1(text).to_json()}
    from credcore.sdjwt import unsafe_decode

    return {"format": "sd-jwt", **unsafe_decode(text)}


def run_inspect(args: argparse.Namespace) -> int:
    try:
        print(json.dumps(describe(read_input(args.input)), indent=2, ensure_ascii=False))
    except (CredError, OSError) as exc:
        return _fail(exc)
    return 0


def _load_jwks(paths: list[str]) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    for p in paths:
        doc = parse_json_object(Path(p).read_bytes(), "issuer JWK file")
        found = doc.get("keys", [doc])
        if not isinstance(found, list) or not all(isinstance(k, dict) for k in found):
            raise MalformedInputError("JWKS 'keys' must be a list of JWKs")
        keys.extend(found)
    return keys


def _load_status_lists(paths: list[str], keys: list[PublicKey], now: int) -> list[StatusListRecord]:
    from credcore.status_list import verify_status_list_jwt

    records = []
    for p in paths:
        token = Path(p).read_text().strip()
        parsed = None
        for key in keys:
            try:
                parsed = verify_status_list_jwt(token, key, now=now, expected_uri=None)
                break
            except CredError:
                continue
        if parsed is None:
            raise MalformedInputError(f"status list {p} does not verify under any given issuer key")
        list_id = parsed.uri.rstrip("/").rsplit("/", 1)[-1]
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
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise MalformedInputError("--at is not an ISO 8601 time") from None


def run_verify(args: argparse.Namespace) -> int:
    from credcore.verification import verify_presentation

    try:
        now = _parse_time(args.at)
        jwks = _load_jwks(args.issuer_jwk)
        keys = [PublicKey.from_jwk(j) for j in jwks]
        trust = TrustSnapshot.from_issuer_jwks(
            {ANY_ISSUER: jwks}, status_lists=_load_status_lists(args.status_list, keys, now)
        )
        text = read_input(args.input)
        result = verify_presentation(text, trust=trust, now=now, audience=args.aud, nonce=args.nonce)
    except (CredError, OSError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        verdict = "VERIFIED" if result.verified else f"NOT VERIFIED ({result.code})"
        print(verdict)
        for o in result.outcomes:
            print(f"  {'ok ' if o.passed else 'FAIL'} {o.check:<15} {o.code or ''}")
        for name, value in result.claims.items():
            print(f"  {name}: {json.dumps(value, ensure_ascii=False)}")
    return 0 if result.verified else 1


def _fail(exc: Exception) -> int:
    if isinstance(exc, CredError):
        print(f"civicpass: {exc.code}: {exc.detail}", file=sys.stderr)
    else:
        print(f"civicpass: cannot read input: {exc.__class__.__name__}", file=sys.stderr)
    return 2
