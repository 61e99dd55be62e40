"""Key rotation under load never strands a credential (issue 13 §1).

Two issuer services on one database (two worker processes of one issuer) sign continuously from several threads,
SD-JWT VCs with CP1 copies (clerk issuance) and the OpenID4VCI flow (an SD-JWT VC, then CP1 copies), while the
key rotates three times through one of them against a real chain (py-evm in-process). Afterwards a verifier that
trusts only the chain (contracts.TrustSync, status lists checked against their on-chain digests) accepts every
credential: none was signed outside the window the chain holds for its key.
"""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account
from eth_utils import keccak
from issuer_world import BASE, MERCHANT, RESIDENT, RESIDENT_CLAIMS, HolderKey, make_settings, signing_key_of
from web3 import EthereumTesterProvider, Web3

from contracts import Signer, TrustSync, deploy_all, registries
from credcore import cp1, jws, sdjwt
from credcore._b64 import b64u_decode
from credcore._defaults import SecretsSaltSource, SystemClock
from credcore.did import did_ethr
from credcore.keys import PublicKey
from credcore.presentations import verify_presentation
from credcore.status_list import verify_status_list_jwt
from issuer.api.app import build_service
from issuer.chain import Web3Chain
from issuer.service import IssuerService
from issuer.store.db import make_engine, make_sessionmaker
from issuer.types import TypeRegistry

pytestmark = pytest.mark.chain

ROTATIONS = 3
THREADS = 4


@pytest.fixture
def chain_world():
    w3 = Web3(EthereumTesterProvider())
    admin, issuer = (Account.from_key(keccak(text=f"civicpass-rotation-test-{r}")) for r in ("admin", "issuer"))
    for acct in (admin, issuer):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**21}))
    deployment = deploy_all(w3, admin, dev=True)
    trust = registries(w3, deployment)[0]
    trust.accredit_issuer(issuer.address, identifier=did_ethr(issuer.address, deployment.chain_id), name="Busan",
                          credential_types=[RESIDENT, MERCHANT], sender=Signer(w3, admin)).wait()
    return w3, deployment, Web3Chain(w3, deployment, issuer.key)


def _second_process(first: IssuerService) -> IssuerService:
    """Another worker process of the same issuer: its own engine and key ring, same database and chain account."""
    svc = IssuerService(first.settings, make_sessionmaker(make_engine(first.settings.database_url)),
                        clock=SystemClock(), salts=SecretsSaltSource(), types=TypeRegistry.load(None),
                        chain=first.chain)
    svc.start()
    return svc


def _direct(svc: IssuerService) -> list[tuple[str, HolderKey]]:
    keys = [HolderKey() for _ in range(3)]
    issued = svc.admin.issue_direct("clerk", RESIDENT, RESIDENT_CLAIMS, [PublicKey.from_jwk(k.jwk) for k in keys])
    return list(zip(issued.credentials, keys, strict=True))


def _oid4vci(svc: IssuerService) -> list[tuple[str, HolderKey]]:
    offer = svc.oid4vci.create_offer("clerk", RESIDENT, RESIDENT_CLAIMS)
    token = svc.oid4vci.token("urn:ietf:params:oauth:grant-type:pre-authorized_code",
                         offer.credential_offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
                             "pre-authorized_code"], offer.tx_code).access_token
    out = []
    for config_id, n in ((offer.credential_offer["credential_configuration_ids"][0], 1),
                         (offer.credential_offer["credential_configuration_ids"][1], 2)):
        keys = [HolderKey() for _ in range(n)]
        nonce = svc.oid4vci.nonce()
        proofs = [k.proof(aud=BASE, nonce=nonce, iat=int(time.time())) for k in keys]
        issued = svc.oid4vci.credential(token, {"credential_configuration_id": config_id, "proofs": {"jwt": proofs}})
        out += list(zip(issued.credentials, keys, strict=True))
    return out


def _verify_all(w3, deployment, svc: IssuerService, issued: list[tuple[str, HolderKey]]) -> list[str]:
    now = max(int(time.time()), int(w3.eth.get_block("latest")["timestamp"])) + 1
    state = TrustSync(w3, deployment).sync()
    for pending in state.pending_status_lists:
        token = svc.status.served(int(pending.uri.rsplit("/", 1)[1]))
        kid = jws.parse(token, typ="statuslist+jwt").header["kid"]
        key = next(k for k in state.snapshot(now=now).issuer(pending.issuer_id).keys if k.thumbprint == kid)
        parsed = verify_status_list_jwt(token, key.public_key, now=now, expected_uri=pending.uri)
        state.accept_status_list(pending, token, parsed.status_list, fetched_at=now)
    snapshot = state.snapshot(now=now)
    failures = []
    for text, holder in issued:
        if text.count("~"):
            pres = sdjwt.present_sd_jwt(text, disclose=["city"], holder_key=signing_key_of(holder), audience="a",
                                        nonce="n", now=now)
            result = verify_presentation(pres, trust=snapshot, now=now, audience="a", nonce="n")
        else:
            qr = cp1.present_cp1(b64u_decode(text), holder_key=signing_key_of(holder), now=now)
            result = verify_presentation(qr, trust=snapshot, now=now)
        if result.code is not None:
            failures.append(result.code)
    return failures


def test_no_credential_is_stranded_by_rotations_under_load(chain_world, db_url):
    w3, deployment, chain = chain_world
    first = build_service(make_settings(db_url, key_close_grace=5), chain=chain)
    second = _second_process(first)
    issued: list[tuple[str, HolderKey]] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def issue(svc: IssuerService, oid4vci: bool) -> None:
        while not stop.is_set():
            try:
                got = _oid4vci(svc) if oid4vci else _direct(svc)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                issued.extend(got)

    threads = [threading.Thread(target=issue, args=(svc, i % 2 == 1))
               for i, svc in enumerate([first, second] * (THREADS // 2))]
    for t in threads:
        t.start()
    try:
        kids = []
        for _ in range(ROTATIONS):
            time.sleep(0.8)
            kids.append(first.keys.rotate("operator").thumbprint)
        time.sleep(0.8)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(set(kids)) == ROTATIONS
    first.worker.run_once(force=True)

    failures = _verify_all(w3, deployment, first, issued)
    assert len(issued) > 100
    assert failures == [], f"{len(failures)} of {len(issued)} stranded: {sorted(set(failures))}"
    for kid, until in {k.thumbprint: k.valid_until for k in first.keys.all()}.items():
        on_chain = chain.trust.key(chain.address, kid).valid_until
        assert on_chain == until or (until is not None and on_chain >= until)  # never narrower than the issuer's
    for svc in (first, second):
        svc.sessions.kw["bind"].dispose()
