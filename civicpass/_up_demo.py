"""``civicpass up --demo``: a resident wallet and a merchant wallet, filled through the real OpenID4VCI flow.

A clerk token creates each offer at the issuer's admin API, and :func:`wallet_sdk.receive` redeems it with
the PIN, exactly as a phone would. Trust comes from the chain (the registries' events), not from the
issuers. On a restart the wallets are kept; a credential is only fetched again when no copy is left.
The holders are fictional; nothing here is logged, only printed to the operator's terminal.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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


def _trust(deployment_path: Path, now: int) -> Any:
    from web3 import HTTPProvider, Web3

    from contracts import Deployment, TrustSync

    deployment = Deployment.load(deployment_path)
    w3 = Web3(HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 30}))
    return TrustSync(w3, deployment).sync().snapshot(now=now)


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
    """Fill the demo wallets (idempotent) and return the lines to print: a QR and how to make more."""
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
            token = secrets["issuers"][h.issuer]["clerk_token"]
            offer = _offer(http, issuer_urls[h.issuer], token, h.vct, h.claims)
            stored = receive(wallet, offer["credential_offer_uri"], tx_code=offer["tx_code"], http=http, trust=trust,
                             now=int(time.time()), copies=10)
            ids[(h.wallet, h.vct)] = stored.id
    resident_dir, resident_id = layout.wallet_dir("resident"), ids[("resident", RESIDENT)]
    shown = present_offline(Wallet.open(resident_dir, passphrase), resident_id, now=int(time.time()))
    cmd = f"civicpass wallet qr {{id}} --wallet {{dir}} --passphrase-file {pw_file}"
    return [
        "demo wallets (fictional holders, received through OpenID4VCI):",
        f"  resident  {resident_dir}  ResidentCredential {resident_id}",
        f"  merchant  {layout.wallet_dir('merchant')}  MerchantCredential {ids[('merchant', MERCHANT)]}, "
        f"GrantEligibilityCredential {ids[('merchant', GRANT)]}",
        "scan this resident QR at the counter page (valid for about a minute, one use):",
        shown.terminal(),
        "more QR codes:",
        "  " + cmd.format(id=resident_id, dir=resident_dir),
        "  " + cmd.format(id=ids[("merchant", MERCHANT)], dir=layout.wallet_dir("merchant")),
    ]
