"""Put the registries on a dev chain once and describe them in the deployment file the services read.

Deploying is idempotent per chain: when the deployment file already names contracts that exist on this
chain (a restart with ``--state``), they are reused and only the RPC URL is refreshed. On a fresh chain
the same admin account deploys with the same nonces, so the addresses come out the same every time,
which keeps bookmarks and configs stable between throw-away runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from web3 import HTTPProvider, Web3

from chain_local.running import RunningChain

if TYPE_CHECKING:
    from contracts import Deployment

#: What each dev account is for, by index; the deployment file records these roles.
ROLES = ("admin", "issuer", "issuer-2", "operator", *(f"dev-{i}" for i in range(4, 10)))


def provision(
    chain: RunningChain, deployment_path: Path, *, progress: Callable[[str], None] | None = None
) -> tuple[Deployment, bool]:
    """Deploy TrustRegistry, AnchorRegistry and StatusRegistry unless ``deployment_path`` already
    describes a live deployment on ``chain``; write the file. Returns ``(Deployment, reused)``.
    ``progress`` is told each deployment step.

    Raises:
        contracts.errors.DeploymentFileError: the existing file is not a deployment file.
        credcore.errors.CredError: a deployment transaction failed.
    """
    from contracts import Deployment, DevAccount, deploy_all

    w3 = Web3(HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
    accounts = tuple(
        DevAccount(role=role, address=a.address, private_key=a.private_key)  # type: ignore[arg-type]
        for role, a in zip(ROLES, chain.accounts, strict=False)
    )
    if deployment_path.exists():
        old = Deployment.load(deployment_path)
        if old.chain_id == chain.chain_id and all(w3.eth.get_code(a) for a in old.addresses):
            current = replace(old, rpc_url=chain.url, dev=True, accounts=accounts)
            if current != old:
                current.save(deployment_path)
            return current, True
    deployment = deploy_all(w3, chain.accounts[0].private_key, rpc_url=chain.url, dev=True, accounts=accounts,
                            progress=progress)
    deployment_path.parent.mkdir(parents=True, exist_ok=True)
    deployment.save(deployment_path)
    return deployment, False
