"""The chain side of ``civicpass up``: start or reach the chain, have the registries deployed, accredit the
demo issuers. Idempotent: on a restart the deployment is reused and issuers already accredited are left alone.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from civicpass._up_layout import DEMO_ISSUERS, Layout
from civicpass._up_stack import Child, Supervisor, child_env
from civicpass.chain_cmd import PROGRESS_MARK
from civicpass.up_cmd import say

READY_MARK = "Ctrl-C stops."


def start_chain_child(sup: Supervisor, layout: Layout, engine: str, port: int) -> tuple[Child, str]:
    """``civicpass chain up`` as a child (its output goes to logs/chain.log); returns it and its RPC URL once
    the registries are deployed and the deployment file is written."""
    log_path = layout.chain_log
    offset = log_path.stat().st_size if log_path.exists() else 0
    args = ["-m", "civicpass", "chain", "up", "--engine", engine, "--port", str(port),
            "--state", str(layout.chain_state(engine)), "--deployment", str(layout.deployment)]
    with log_path.open("ab") as out:
        child = sup.python("chain", args, child_env({}, prefix="CIVICPASS_CHAIN_", defaults={}), out=out,
                           stop_signal=signal.SIGINT)

    relayed = 0

    def ready() -> bool:
        nonlocal relayed
        with log_path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
        lines = text.splitlines()[:-1] if not text.endswith("\n") else text.splitlines()
        for line in lines[relayed:]:  # the deployment's steps, as the chain child reports them
            if line.startswith(PROGRESS_MARK) and not line.startswith(f"{PROGRESS_MARK}stopped"):
                say(f"civicpass up: {line.removeprefix(PROGRESS_MARK)}")
        relayed = len(lines)
        return READY_MARK in text

    sup.wait_for(f"the {engine} chain", ready, child, log=log_path)
    return child, f"http://127.0.0.1:{port}"


def provision_external(layout: Layout, url: str) -> None:
    """Deploy on (or reuse a deployment on) a chain someone else runs; it must fund the dev test accounts."""
    from web3 import HTTPProvider, Web3

    from chain_local import RunningChain, dev_accounts, provision

    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # requests' and web3's errors alike: nobody answers JSON-RPC there
        raise RuntimeError(f"no JSON-RPC answer from {url} ({type(exc).__name__})") from None
    chain = RunningChain(url=url, chain_id=chain_id, engine="external", fork="", accounts=dev_accounts(),
                         state_path=None, _stop=None)
    provision(chain, layout.deployment)


def _web3(rpc_url: str) -> Any:
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))


def accredit_demo_issuers(deployment_path: Path, urls: dict[str, str]) -> list[str]:
    """Accredit each demo issuer for its types (admin account); returns the names newly accredited.

    The identifier is the issuer's base URL (``urls[name]``): it is the ``iss`` of its credentials, where
    ``/.well-known/jwt-vc-issuer`` lists its keys (SD-JWT VC §3.5). State from an earlier run keeps the
    identifier it was accredited under (a did:ethr before JWT VC Issuer Metadata); the issuer reads it back.
    """
    from contracts import Deployment, Signer, TrustRegistry, wait_all

    deployment = Deployment.load(deployment_path)
    assert deployment.rpc_url is not None
    w3 = _web3(deployment.rpc_url)
    trust = TrustRegistry(w3, deployment.trust_registry, from_block=deployment.from_block)
    admin = Signer(w3, deployment.account("admin").private_key or "")
    pending, done = [], []
    for issuer in DEMO_ISSUERS:
        address = deployment.account(issuer.account_role).address
        if trust.issuer(address) is None:
            pending.append(trust.accredit_issuer(address, identifier=urls[issuer.name],
                                                 name=issuer.title, credential_types=issuer.types, sender=admin))
            done.append(issuer.name)
            continue
        for vct in issuer.types:
            if not trust.may_issue(address, vct):
                pending.append(trust.grant_credential_type(address, vct, sender=admin))
    wait_all(pending)
    return done


def issuer_account_key(deployment_path: Path, role: str) -> str:
    from contracts import Deployment

    return Deployment.load(deployment_path).account(role).private_key or ""


def block_number(rpc_url: str) -> int:
    return int(_web3(rpc_url).eth.block_number)


def wait_until_chain_time_passed(rpc_url: str, timeout: float = 10.0) -> None:
    """Return once the wall clock is past the latest block's timestamp.

    Why: a chain mines several blocks a second by running its timestamps ahead of the clock, and an issuer's
    new key is valid from its block's time. An issuer that signs its first status list "now", before that
    time, publishes a list no verifier accepts (``key_not_valid_at_issuance``). Starting a fresh issuer only
    when the chain is not ahead keeps its key's ``validFrom`` at or before the issuer's clock.
    """
    import time

    w3 = _web3(rpc_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(time.time()) > int(w3.eth.get_block("latest")["timestamp"]):
            return
        time.sleep(0.2)
