"""``civicpass up --demo``: a resident wallet and a merchant wallet, filled through the real OpenID4VCI flow.

A clerk token creates each offer at the issuer's admin API, and :func:`wallet_sdk.receive` redeems it with
the PIN, exactly as a phone would. Trust comes from the chain (the registries' events), not from the
issuers. On a restart the wallets are kept; a credential is only fetched again when no copy is left.
The holders are fictional; nothing here is logged, only printed to the operator's terminal.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from civicpass._invocation import command_prefix
from civicpass._invocation import relative as _relative
from civicpass._up_layout import GRANT, MERCHANT, RESIDENT, Layout


@dataclass(frozen=True, slots=True)
class DemoHolding:
    wallet: str
    issuer: str
    vct: str
    claims: dict[str, Any]


DEMO_HOLDINGS = (
    DemoHolding("resident", "cityhall", RESIDENT, {
        "name": "김민지 (demo)", "birth_date": "1990-04-12", "city": "부산광역시", "district": "해운대구",
        "resident_since": "2019-03-01"}),
    DemoHolding("merchant", "market", MERCHANT, {
        "business_registration_number": "123-45-67890", "business_name": "민지네 어묵 (demo)", "owner": "김민지 (demo)",
        "market": "자갈치시장", "category": "food", "district": "중구", "small_business": True, "programmes": []}),
    DemoHolding("merchant", "market", GRANT, {
        "programme_id": "busan-tm-2026", "programme_name": "Traditional market small-merchant grant 2026",
        "amount_krw": 500000, "valid_until": "2027-12-31", "merchant_reference": "123-45-67890"}),
)
OFFER_RETRIES = 20
#: What credcore.cp1 accepts: the holder proof's 30-second time step and the next one.
QR_VALIDITY = "valid for 30 to 60 seconds after it is made"


def _trust(deployment_path: Path, now: int) -> Any:
    from web3 import HTTPProvider, Web3

    from civicpass.up_cmd import say
    from contracts import Deployment, TrustSync

    deployment = Deployment.load(deployment_path)
    w3 = Web3(HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 30}))
    say(f"civicpass up: the wallets read the registries from the chain, from block {deployment.from_block} ...")

    def progress(first: int, done: int, last: int) -> None:
        if last > first:
            say(f"civicpass up:   block {done} of {last} ({100 * (done - first + 1) // (last - first + 1)}%)")

    return TrustSync(w3, deployment).sync(progress=progress).snapshot(now=now)


def _offer(http: httpx.Client, base: str, token: str, vct: str, claims: dict[str, Any]) -> dict[str, Any]:
    for _ in range(OFFER_RETRIES):  # 503 while the issuer's key is not on chain yet
        r = http.post(f"{base}/v1/offers", json={"vct": vct, "claims": claims},
                      headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 503:
            r.raise_for_status()
            offer: dict[str, Any] = r.json()
            return offer
        time.sleep(0.5)
    raise RuntimeError("the issuer kept answering 503 (its key is not on chain)")


def passphrase_file(layout: Layout, passphrase: str) -> Path:
    path = layout.root / "wallets" / "passphrase"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(passphrase + "\n")
    return path


def make_demo_wallets(layout: Layout, issuer_urls: dict[str, str], secrets: dict[str, Any]) -> list[str]:
    """Fill the demo wallets (idempotent) and return the lines to print: a QR, its text, and the commands that
    make more and revoke it, each runnable as printed from the current directory."""
    from civicpass.up_cmd import say
    from wallet_sdk import Wallet, present_offline, receive

    now = int(time.time())
    passphrase = secrets["wallet_passphrase"]
    pw_file = passphrase_file(layout, passphrase)
    trust = _trust(layout.deployment, now)
    ids: dict[tuple[str, str], str] = {}
    with httpx.Client(timeout=30) as http:
        for h in DEMO_HOLDINGS:
            path = layout.wallet_dir(h.wallet)
            wallet = Wallet.open(path, passphrase) if Wallet.exists(path) else Wallet.create(path, passphrase)
            held = [s for s in wallet.summaries() if s.vct == h.vct and (s.unused() or not s.copy_profiles)]
            if held:
                ids[(h.wallet, h.vct)] = held[-1].id
                continue
            say(f"civicpass up:   the {h.issuer} issuer offers {h.vct.split(':')[-2]} to the {h.wallet} wallet ...")
            token = secrets["issuers"][h.issuer]["clerk_token"]
            offer = _offer(http, issuer_urls[h.issuer], token, h.vct, h.claims)
            stored = receive(wallet, offer["credential_offer_uri"], tx_code=offer["tx_code"], http=http, trust=trust,
                             now=int(time.time()), copies=10)
            ids[(h.wallet, h.vct)] = stored.id
    resident_dir, resident_id = layout.wallet_dir("resident"), ids[("resident", RESIDENT)]
    resident = Wallet.open(resident_dir, passphrase)
    at_issuer = resident.load(resident_id).issuer_ref or None  # the issuer's notification_id: its credential id
    shown = present_offline(resident, resident_id, now=int(time.time()))
    cli, python = command_prefix(), shlex.quote(_relative(Path(sys.executable)))
    qr = f"{cli} wallet qr {{id}} --wallet {{dir}} --passphrase-file {shlex.quote(_relative(pw_file))}"
    secrets_file = shlex.quote(_relative(layout.secrets_path))
    token = (f"OPERATOR=$({python} -c 'import json, sys; print(json.load(open(sys.argv[1]))"
             f"[\"issuers\"][\"cityhall\"][\"operator_token\"])' {secrets_file})")
    lines = [
        "demo wallets (fictional holders, received through OpenID4VCI):",
        f"  resident  {resident_dir}  ResidentCredential {resident_id} (at the city hall issuer: {at_issuer})",
        f"  merchant  {layout.wallet_dir('merchant')}  MerchantCredential {ids[('merchant', MERCHANT)]}, "
        f"GrantEligibilityCredential {ids[('merchant', GRANT)]}",
        f"scan this resident QR at the counter page, or paste its text there ({QR_VALIDITY}, one use):",
        shown.terminal(),
        f"  {shown.text}",
        "more QR codes (each command prints a fresh one; add --text for the text alone):",
        "  $ " + qr.format(id=resident_id, dir=shlex.quote(_relative(resident_dir))),
        "  $ " + qr.format(id=ids[("merchant", MERCHANT)], dir=shlex.quote(_relative(layout.wallet_dir("merchant")))),
    ]
    if at_issuer is not None:
        url = f"{issuer_urls['cityhall']}/v1/credentials/{at_issuer}/revoke"
        lines += [
            f"revoke the resident credential as the city hall's operator (the token is in {layout.secrets_path}):",
            f"  $ {token}",
            f'  $ curl -sS -X POST -H "Authorization: Bearer $OPERATOR" {url}',
        ]
    return lines
