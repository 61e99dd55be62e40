"""Deploying the three registries and wiring them together, as one call for chain_local, tests and ops.

Order matters: the TrustRegistry first (the others take its address), then the Anchor and Status registries,
then both are attached to the TrustRegistry so issuer standing reaches them. Independent transactions are
pipelined, so a deployment takes three round trips to the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts._artifacts import load_artifact
from contracts._tx import Signer, chain_errors, wait_all
from contracts.deployment import Deployment, DevAccount
from contracts.trust_registry import TrustRegistry

__all__ = ["deploy_all"]

_GAS_TRUST = 3_000_000
_GAS_GATE_REGISTRY = 900_000
_GAS_ATTACH = 150_000


def deploy_all(
    w3: Web3,
    admin: Signer | LocalAccount | str,
    *,
    rpc_url: str | None = None,
    dev: bool = False,
    accounts: Iterable[DevAccount] = (),
    progress: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy and wire TrustRegistry, AnchorRegistry and StatusRegistry with ``admin`` as registry admin.

    ``rpc_url`` defaults to the provider's endpoint; ``dev``/``accounts`` are recorded in the Deployment
    (private keys only when ``dev``). ``progress`` is told each step before it waits for the chain.
    """
    say = progress or (lambda _: None)
    signer = admin if isinstance(admin, Signer) else Signer(w3, admin)
    trust_art = load_artifact("TrustRegistry")
    say("deploying TrustRegistry (1 of 3 steps) ...")
    trust_rx = signer.send(None, trust_art.bytecode + abi_encode(["address"], [signer.address]), gas=_GAS_TRUST).wait()
    trust_address = trust_rx.contract_address
    assert trust_address is not None
    ctor_arg = abi_encode(["address"], [trust_address])
    say(f"TrustRegistry at {trust_address}; deploying AnchorRegistry and StatusRegistry (2 of 3) ...")
    gates = [
        signer.send(None, load_artifact(name).bytecode + ctor_arg, gas=_GAS_GATE_REGISTRY)
        for name in ("AnchorRegistry", "StatusRegistry")
    ]
    anchor_rx, status_rx = wait_all(gates)
    assert anchor_rx.contract_address is not None and status_rx.contract_address is not None
    trust = TrustRegistry(w3, trust_address)
    say("attaching AnchorRegistry and StatusRegistry to the TrustRegistry (3 of 3) ...")
    wait_all(
        [
            trust.attach_registry(rx.contract_address, sender=signer, preflight=False)  # type: ignore[arg-type]
            for rx in (anchor_rx, status_rx)
        ]
    )
    if rpc_url is None:
        rpc_url = getattr(w3.provider, "endpoint_uri", None)
    with chain_errors():
        chain_id = int(w3.eth.chain_id)
    return Deployment(
        chain_id=chain_id,
        trust_registry=trust_address,
        anchor_registry=anchor_rx.contract_address,
        status_registry=status_rx.contract_address,
        from_block=trust_rx.block_number,
        rpc_url=rpc_url,
        dev=dev,
        accounts=tuple(accounts),
    )
