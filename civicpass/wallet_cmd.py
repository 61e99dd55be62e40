"""``civicpass wallet``: a holder's wallet on the command line (kiosks, demos, scripts), over wallet_sdk.

Sub-commands: ``init``, ``accept OFFER``, ``list``, ``show ID``, ``qr ID``, ``respond REQUEST``,
``status ID``, ``backup FILE``, ``restore FILE``. OFFER and REQUEST are the URI, a file holding it, a
photo of its QR code (PNG/JPEG), or ``-`` for standard input. IDs may be shortened to a unique prefix.

The passphrase comes from ``CIVICPASS_WALLET_PASSPHRASE``, ``--passphrase-file``, or a prompt. Trust
(which issuers and keys to believe) comes from ``--chain DEPLOYMENT.json`` (the registries on chain, and
the status list digests there), ``--trust SNAPSHOT.json`` (a verifier's trust snapshot file) or
``--issuer-jwk FILE`` (offline: these keys, for any issuer and type).

Exit codes: 0 done; 1 a negative answer (issuer or verifier refused, credential rejected, revoked or
suspended, no copy left, holder declined); 2 bad input or usage (wrong passphrase, damaged wallet,
malformed offer); 3 the issuer, verifier or chain could not be reached (try again). Never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credcore.errors import CredError, InfrastructureError, MalformedInputError
from credcore.keys import parse_json_object

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_DEFAULT_DIR = Path("~/.civicpass/wallet")
_NEGATIVE = ("wallet_issuer_refused", "wallet_verifier_refused", "wallet_credential_rejected", "wallet_no_unused_copy")


def register(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--wallet", metavar="DIR", help="wallet directory (default $CIVICPASS_WALLET or ~/.civicpass/wallet)"
    )
    common.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
    trust = argparse.ArgumentParser(add_help=False)
    trust.add_argument("--chain", metavar="DEPLOYMENT", help="trust the issuers registered on chain (deployment JSON)")
    trust.add_argument("--trust", metavar="SNAPSHOT", help="trust a verifier's trust snapshot file")
    trust.add_argument("--issuer-jwk", action="append", default=[], metavar="FILE", help="trust these issuer keys")
    net = argparse.ArgumentParser(add_help=False)
    net.add_argument("--allow-http", action="store_true", help=argparse.SUPPRESS)  # tests against non-loopback HTTP

    w = sub.add_parser("wallet", help="a holder's wallet: receive, keep and show credentials")
    ws = _with_serve(w.add_subparsers(dest="wallet_command", required=True, metavar="ACTION"))
    common.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)  # tests: cheap scrypt
    p = ws.add_parser("init", parents=[common], help="create an empty encrypted wallet")
    p.set_defaults(func=_guard(run_init))
    _add_accept(ws, [common, trust, net])
    p = ws.add_parser("list", parents=[common], help="list stored credentials")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(run_list))
    p = ws.add_parser("show", parents=[common], help="show one credential, its copies and history")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(run_show))
    p = ws.add_parser("qr", parents=[common], help="show a fresh single-use CP1 QR code")
    p.add_argument("id")
    p.add_argument("--profile", help="CP1 profile (needed when the credential has several)")
    p.add_argument("--out", metavar="FILE", help="write a PNG (or .svg) instead of drawing in the terminal")
    p.add_argument("--nonce", help="the verifier's nonce, if its app shows one")
    p.add_argument("--text", action="store_true", help="print the CP1: text only")
    p.add_argument("--watch", action="store_true", help="redraw every 30 s time step until Ctrl-C")
    p.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)  # bound --watch (tests)
    p.set_defaults(func=_guard(run_qr))
    p = ws.add_parser("respond", parents=[common, net], help="answer an OpenID4VP request after consent")
    p.add_argument("request", help="openid4vp:// URI, a file, a QR photo, or -")
    p.add_argument("--yes", action="store_true", help="consent without asking")
    p.add_argument("--decline", action="store_true", help="tell the verifier no")
    p.set_defaults(func=_guard(run_respond))
    p = ws.add_parser("status", parents=[common, trust, net], help="check whether a credential is revoked or suspended")
    p.add_argument("id")
    p.set_defaults(func=_guard(run_status))
    _add_refresh(ws, [common, trust, net])
    p = ws.add_parser("backup", parents=[common], help="write an encrypted backup file")
    p.add_argument("file")
    p.set_defaults(func=_guard(run_backup))
    p = ws.add_parser("restore", parents=[common], help="restore a backup into a new wallet directory")
    p.add_argument("file")
    p.set_defaults(func=_guard(run_restore))


def _add_accept(ws: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = ws.add_parser("accept", parents=parents, help="receive credentials from an OpenID4VCI offer")
    p.add_argument("offer", help="openid-credential-offer:// URI, a file, a QR photo, or -")
    p.add_argument("--tx-code", help="the transaction code (PIN) the issuer gave you")
    p.add_argument("--copies", type=int, default=10, help="offline copies to ask for (default 10)")
    p.add_argument("--sd-jwt-copies", type=int, default=1,
                   help="SD-JWT VCs to ask for; with more than one, each is presented once (default 1)")
    p.set_defaults(func=_guard(run_accept))


def _add_refresh(ws: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = ws.add_parser("refresh", parents=parents,
                      help="fetch new copies by refresh, without a new offer (all that run low, or ID)")
    p.add_argument("id", nargs="?", help="refresh this credential now, however many copies it has left")
    p.set_defaults(func=_guard(run_refresh))


def _with_serve(ws: Any) -> Any:
    """``wallet serve`` (the web wallet) added to the wallet's sub-commands, which are returned."""
    p = ws.add_parser("serve", help="serve the resident web wallet (a progressive web app) and the city's trust list")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8300, help="port (8300)")
    p.add_argument("--chain", metavar="DEPLOYMENT", help="trust list from the issuers registered on chain")
    p.add_argument("--trust", metavar="SNAPSHOT", help="trust list from a verifier's trust snapshot file")
    p.set_defaults(func=run_serve)
    return ws


# --- plumbing -------------------------------------------------------------------------------------------
def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except CredError as exc:
            print(f"civicpass wallet: {exc.code}: {exc.detail}{_hint(exc)}", file=sys.stderr)
            if isinstance(exc, InfrastructureError):
                return 3
            return 1 if exc.code in _NEGATIVE else 2
        except OSError as exc:
            print(f"civicpass wallet: {exc.strerror or exc.__class__.__name__}: {exc.filename or ''}", file=sys.stderr)
            return 2

    return run


def _hint(exc: CredError) -> str:
    if exc.context.get("error") == "invalid_grant":
        return " (wrong transaction code, or the offer was already used or has expired)"
    if exc.code == "wallet_no_unused_copy":
        return " (accept a new offer from the issuer to get a new batch)"
    return ""


def _now() -> int:
    from credcore._defaults import SystemClock

    return SystemClock().now()


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.wallet or os.environ.get("CIVICPASS_WALLET") or _DEFAULT_DIR).expanduser()


class PassphraseMissingError(MalformedInputError):
    code = "wallet_passphrase_missing"
    title = "No passphrase given, and no terminal to ask on"


class PassphraseMismatchError(MalformedInputError):
    code = "wallet_passphrases_differ"
    title = "The passphrase and its repetition differ"


def _passphrase(args: argparse.Namespace, *, confirm: bool = False, env: str = "CIVICPASS_WALLET_PASSPHRASE") -> str:
    if os.environ.get(env):
        return os.environ[env]
    if args.passphrase_file:
        return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
    if not sys.stdin.isatty():
        raise PassphraseMissingError(f"no passphrase: set {env} or use --passphrase-file")
    first = getpass.getpass("Wallet passphrase: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise PassphraseMismatchError("the passphrases differ")
    return first


def _open(args: argparse.Namespace) -> Any:
    from wallet_sdk.store import Wallet

    return Wallet.open(_dir(args), _passphrase(args))


def _http() -> Any:
    import httpx

    return httpx.Client(timeout=10.0, headers={"user-agent": "civicpass-wallet"})


def _read_uri(arg: str) -> str:
    """The URI text from an argument: itself, a file with the text, a QR photo, or stdin."""
    from wallet_sdk.qr import decode_qr_image

    if arg == "-":
        data = sys.stdin.buffer.read(16 * 1024 * 1024)
    elif "://" not in arg and Path(arg).is_file():
        data = Path(arg).read_bytes()
    else:
        return arg.strip()
    if data.startswith(_IMAGE_MAGIC):
        texts = decode_qr_image(data)
        if not texts:
            raise MalformedInputError("no QR code found in the image")
        return texts[0]
    return data.decode("utf-8", errors="replace").strip()


def _trust(args: argparse.Namespace, now: int) -> tuple[Any, dict[str, bytes]]:
    """(TrustSnapshot, status list digests by URI) from --chain, --trust or --issuer-jwk."""
    from credcore.trust import ANY_ISSUER, TrustSnapshot

    if args.chain:
        from contracts.deployment import Deployment
        from contracts.sync import TrustSync

        deployment = Deployment.load(args.chain)
        def progress(first: int, done: int, last: int) -> None:  # a long chain is read in block ranges
            if done < last:
                print(f"civicpass wallet: reading the registries: block {done} of {last}", file=sys.stderr)

        state = TrustSync(_web3(deployment), deployment).sync(progress=progress)
        digests = {p.uri: p.digest for p in state.pending_status_lists}
        return state.snapshot(now=now), digests
    if args.trust:
        from verifier.snapshot_file import load_snapshot

        loaded = load_snapshot(Path(args.trust))
        if loaded is None:
            raise MalformedInputError("trust snapshot file not found")
        return loaded[0], {r.uri: r.digest for r in loaded[0].status_lists if r.digest}
    if args.issuer_jwk:
        keys: list[Any] = []
        for path in args.issuer_jwk:
            doc = parse_json_object(Path(path).read_bytes(), "issuer JWK file")
            found = doc.get("keys", [doc])
            if not isinstance(found, list) or not all(isinstance(k, dict) for k in found):
                raise MalformedInputError("JWKS 'keys' must be a list of JWKs")
            keys += found
        return TrustSnapshot.from_issuer_jwks({ANY_ISSUER: keys}), {}
    raise MalformedInputError("say whom to trust: --chain DEPLOYMENT.json, --trust SNAPSHOT.json or --issuer-jwk FILE")


def _kdf(args: argparse.Namespace) -> Any:
    from wallet_sdk._seal import DEFAULT_KDF, ScryptParams

    return ScryptParams(n=2**10) if args.insecure_fast_kdf else DEFAULT_KDF


def _web3(deployment: Any) -> Any:
    from web3 import Web3

    if not deployment.rpc_url:
        raise MalformedInputError("the deployment file names no rpc_url")
    return Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 10}))


def _date(t: int | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


# --- commands -------------------------------------------------------------------------------------------
def run_init(args: argparse.Namespace) -> int:
    from wallet_sdk.store import Wallet

    wallet = Wallet.create(_dir(args), _passphrase(args, confirm=True), kdf=_kdf(args))
    print(f"created an empty wallet in {wallet.path}")
    return 0


def run_accept(args: argparse.Namespace) -> int:
    from wallet_sdk._http import Peer
    from wallet_sdk.offer import resolve_offer
    from wallet_sdk.receive import receive

    wallet, now = _open(args), _now()
    trust, _ = _trust(args, now)
    with _http() as http:
        offer = resolve_offer(_read_uri(args.offer), peer=Peer(http, allow_http=args.allow_http))
        tx_code = args.tx_code
        if offer.tx_code is not None and not tx_code:
            if not sys.stdin.isatty():
                raise MalformedInputError("this offer needs --tx-code (the PIN the issuer gave you)")
            tx_code = input(f"{offer.tx_code.description or 'Transaction code'}: ").strip()
        stored = receive(wallet, offer, tx_code=tx_code, http=http, trust=trust, now=now, copies=args.copies,
                         sd_jwt_copies=args.sd_jwt_copies, allow_http=args.allow_http)  # fmt: skip
    n = len(stored.sd_jwts)
    parts = ([f"{n} SD-JWT VCs" if n > 1 else "SD-JWT VC"] if n else []) + (
        [f"{len(stored.copies)} offline copies"] if stored.copies else []
    )
    print(f"stored {stored.name or stored.vct} from {stored.issuer} as {stored.id}: {' + '.join(parts)}")
    return 0


def _copies_text(s: Any) -> str:
    return ", ".join(f"{p} {len(s.unused(p))}/{s.copy_profiles.count(p)}" for p in s.profiles) or "-"


def run_list(args: argparse.Namespace) -> int:
    from civicpass._invocation import runnable

    summaries = _open(args).summaries()
    if args.json:
        print(json.dumps([s.to_json() for s in summaries], indent=2, ensure_ascii=False))
        return 0
    if not summaries:
        print(runnable("the wallet is empty; receive credentials with `civicpass wallet accept OFFER`"))
        return 0
    # AT ISSUER: the issuer's own id for the credential (what its operator revokes by), when it gave one
    print(f"{'ID':<12}  {'CREDENTIAL':<28}  {'OFFLINE COPIES LEFT':<26}  {'STATUS':<10}  {'EXPIRES':<16}  AT ISSUER")
    for s in summaries:
        name, status = (s.name or s.vct)[:28], s.status or "?"
        print(f"{s.id:<12}  {name:<28}  {_copies_text(s):<26}  {status:<10}  {_date(s.expires_at):<16}  "
              f"{s.issuer_ref or '-'}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    wallet = _open(args)
    record = wallet.load(args.id)
    summary = wallet.summary(record.id)
    claims: Mapping[str, Any] = {}
    if record.sd_jwt:
        from credcore.sdjwt import unsafe_decode

        claims = {k: v for k, v in (unsafe_decode(record.sd_jwt)["claims"] or {}).items() if k not in ("cnf", "status")}
    history = [e.to_json() for e in wallet.history() if e.credential_id == record.id]
    view = {**summary.to_json(), "credential_issuer": record.credential_issuer, "issued_at": record.issued_at,
            "claims": claims, "history": history, "anchor_proofs": len(record.anchor_proofs)}  # fmt: skip
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
        return 0
    print(f"{record.name or record.vct}  ({record.id})")
    print(f"  type      {record.vct}\n  issuer    {record.issuer}\n  from      {record.credential_issuer or '-'}")
    print(f"  at issuer {record.issuer_ref or '-'}  (the issuer's id for this credential)")
    print(f"  issued    {_date(record.issued_at)}   expires {_date(record.expires_at)}")
    print(f"  status    {summary.status or 'not checked'} (checked {_date(summary.status_checked_at)})")
    print(f"  offline   {_copies_text(summary)}")
    width = max([13, *map(len, claims)]) + 1  # a long claim name still has a space before its value
    for name, value in claims.items():
        print(f"  {name:<{width}}{json.dumps(value, ensure_ascii=False)}")
    for e in history:  # each line says "shown" once; an online showing adds the verifier's answer
        to = f"to {e['verifier']}" if e["verifier"] else "as an offline QR"
        came = "" if e["outcome"] == "shown" else f" ({e['outcome'].replace(':', ': ', 1)})"
        print(f"  shown {_date(e['at'])} {to}: {', '.join(e['claims']) or e['profile']}{came}")
    return 0


def run_qr(args: argparse.Namespace) -> int:
    from credcore.cp1 import TIME_STEP
    from wallet_sdk.present import present_offline, refresh

    wallet = _open(args)
    shown = present_offline(wallet, args.id, now=_now(), profile=args.profile, nonce=args.nonce)
    note = f"copy {shown.copy_index + 1} of profile {shown.profile}; {shown.remaining} left"
    if shown.warnings:
        said = {"few_copies_left": f"few copies left: get new ones with {_refresh_command(args)}",
                "history_damaged": "the wallet's history is damaged and this showing is not in it"}
        note += "; " + ", ".join(said.get(w, w) for w in shown.warnings)
    if args.out:
        out = Path(args.out)
        data = shown.svg().encode() if out.suffix.lower() == ".svg" else shown.png()
        out.write_bytes(data)
        print(f"wrote {out} ({note})", file=sys.stderr)
        return 0
    if args.text:
        print(shown.text)
        print(note, file=sys.stderr)
        return 0
    steps = 0
    try:
        while True:
            clear = "\x1b[H\x1b[2J" if args.watch and sys.stdout.isatty() else ""
            # the text too: a counter page takes it pasted when no camera is at hand
            print(clear + shown.terminal() + shown.text + f"\nvalid until {_date(shown.valid_until)} UTC; {note}",
                  flush=True)
            steps += 1
            if not args.watch or (args.steps and steps >= args.steps):
                return 0
            time.sleep(max(0.0, (shown.time_step + 1) * TIME_STEP - time.time()))
            shown = refresh(wallet, shown, now=_now(), nonce=args.nonce)
    except KeyboardInterrupt:
        return 0


def _refresh_command(args: argparse.Namespace) -> str:
    """``wallet refresh`` as it runs from here: the wallet options this command was given, and the chain of the
    ``civicpass up`` data directory the wallet is in (or of the one here), else a placeholder for whom to trust."""
    from civicpass._invocation import relative, runnable
    from civicpass.chain_cmd import DEFAULT_DEPLOYMENT

    words = ["civicpass", "wallet", "refresh"]
    for option, value in (("--wallet", args.wallet), ("--passphrase-file", args.passphrase_file)):
        if value:
            words += [option, shlex.quote(value)]
    wallet = _dir(args)
    near = [wallet.parent.parent / "deployment.json"] if wallet.parent.name == "wallets" else []
    found = [p for p in (*near, DEFAULT_DEPLOYMENT) if p.is_file()]
    words += ["--chain", shlex.quote(relative(found[0])) if found else "DEPLOYMENT.json"]
    return runnable(f"`{' '.join(words)}`")


def run_respond(args: argparse.Namespace) -> int:
    from wallet_sdk.openid4vp import decline, prepare, resolve_request, respond

    wallet = _open(args)
    with _http() as http:
        request = resolve_request(_read_uri(args.request), http=http, now=_now(), allow_http=args.allow_http)
        consent = prepare(wallet, request)
        who = (
            "signature checked"
            if request.authenticated
            else f"UNVERIFIED: unsigned; answers go to {request.response_uri}"
        )
        print(f"verifier: {request.verifier}\n  ({who})")
        for qid, asked in consent.asked().items():
            match = consent.matches.get(qid)
            print(f"asks for [{qid}]: {', '.join(asked) or 'only that you hold the credential'}")
            if match is None:
                print("  the wallet holds no credential that answers this")
                continue
            print(f"  from {wallet.summary(match.credential_id).name or match.credential_id} ({match.credential_id})")
            for path, value in consent.values.get(qid, {}).items():
                print(f"  {path}: {json.dumps(value, ensure_ascii=False)}")
        if not consent.can_answer or args.decline:
            decline(consent, http=http, allow_http=args.allow_http)
            print("declined" if args.decline else "cannot answer: declined")
            return 1
        if not args.yes:
            if not sys.stdin.isatty():
                raise MalformedInputError("consent needed: run interactively or pass --yes")
            if input("Send exactly these claims? [y/N] ").strip().lower() not in ("y", "yes"):
                decline(consent, http=http, allow_http=args.allow_http)
                print("declined")
                return 1
        respond(wallet, consent, http=http, now=_now(), allow_http=args.allow_http)
    print("sent")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from wallet_sdk.status import check_status

    wallet, now = _open(args), _now()
    trust, digests = _trust(args, now)
    with _http() as http:
        report = check_status(wallet, args.id, http=http, trust=trust, now=now, expected_digests=digests,
                              allow_http=args.allow_http)  # fmt: skip
    print(report.status + (f" ({report.code})" if report.code else ""))
    return {"valid": 0, "revoked": 1, "suspended": 1}.get(report.status, 3)


def run_refresh(args: argparse.Namespace) -> int:
    from wallet_sdk.refresh import refresh_credential, top_up

    wallet, now = _open(args), _now()
    trust, _ = _trust(args, now)
    with _http() as http:
        if args.id:
            fresh = refresh_credential(wallet, args.id, http=http, trust=trust, now=now, allow_http=args.allow_http)
            print(f"refreshed {fresh.id}: {len(fresh.sd_jwts)} SD-JWT VC, {len(fresh.copies)} offline copies")
            return 0
        done = top_up(wallet, http=http, trust=trust, now=now, allow_http=args.allow_http)
    for d in done:
        print(f"{d.credential_id}: {d.outcome}")
    if not done:
        print("no credential needs new copies")
    return 0 if all(d.outcome == "refreshed" for d in done) else 1


def run_backup(args: argparse.Namespace) -> int:
    from wallet_sdk.backup import export_backup

    wallet = _open(args)
    # The backup may be protected by its own passphrase (kept elsewhere); by default the wallet's.
    backup_pass = os.environ.get("CIVICPASS_WALLET_BACKUP_PASSPHRASE") or _passphrase(args)
    export_backup(wallet, args.file, backup_pass, kdf=_kdf(args))
    print(f"wrote an encrypted backup of {len(wallet.summaries())} credentials to {args.file}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from wallet_sdk.backup import restore_backup

    new_pass = _passphrase(args)
    backup_pass = os.environ.get("CIVICPASS_WALLET_BACKUP_PASSPHRASE") or new_pass
    wallet = restore_backup(args.file, backup_pass, _dir(args), new_passphrase=new_pass, kdf=_kdf(args))
    print(f"restored {len(wallet.summaries())} credentials into {wallet.path}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from civicpass.wallet_web import WalletNotBuiltError, serve, trust_source

    try:
        trust = trust_source(args.chain, args.trust)
        print(f"civicpass wallet: serving the web wallet on http://{args.host}:{args.port}/", flush=True)
        serve(args.host, args.port, trust)
    except (WalletNotBuiltError, CredError, OSError, ValueError) as exc:
        print(f"civicpass wallet: {exc}", file=sys.stderr)
        return 2
    return 0
