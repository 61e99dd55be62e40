"""Solidity sources, committed compiled artifacts and typed Python bindings for civicpass's registries.

Public API (everything else is private): deploy with :func:`deploy_all`, describe a deployment with
:class:`Deployment` (a JSON file), act through the :class:`TrustRegistry`, :class:`AnchorRegistry` and
:class:`StatusRegistry` facades with a :class:`Signer`, and follow the chain with :class:`TrustSync`.
Reverts surface as the credcore errors in :mod:`contracts.errors`.
"""

from web3 import HTTPProvider, Web3

from contracts._tx import PendingTx, Receipt, Signer, wait_all
from contracts.anchor_registry import AnchorRecord, AnchorRegistry
from contracts.deploy import deploy_all
from contracts.deployment import Deployment, DevAccount
from contracts.status_registry import StatusHead, StatusRegistry, status_list_digest
from contracts.sync import PendingStatusList, TrustState, TrustSync
from contracts.trust_registry import IssuerRecord, KeyRecord, TrustRegistry, thumbprint_bytes

__all__ = [
    "AnchorRecord",
    "AnchorRegistry",
    "Deployment",
    "DevAccount",
    "IssuerRecord",
    "KeyRecord",
    "PendingStatusList",
    "PendingTx",
    "Receipt",
    "Signer",
    "StatusHead",
    "StatusRegistry",
    "TrustRegistry",
    "TrustState",
    "TrustSync",
    "connect",
    "deploy_all",
    "registries",
    "status_list_digest",
    "thumbprint_bytes",
    "wait_all",
]


def registries(w3: Web3, deployment: Deployment) -> tuple[TrustRegistry, AnchorRegistry, StatusRegistry]:
    """The three facades for ``deployment``."""
    return (
        TrustRegistry(w3, deployment.trust_registry, from_block=deployment.from_block),
        AnchorRegistry(w3, deployment.anchor_registry, from_block=deployment.from_block),
        StatusRegistry(w3, deployment.status_registry, from_block=deployment.from_block),
    )


def connect(rpc_url: str, *, connect_timeout: float, read_timeout: float) -> Web3:
    """A Web3 over HTTP whose every call gives up after the timeouts (seconds), without web3's own retries.

    web3's HTTPProvider retries a timed-out call five times by default, so a hung node would hold a caller for
    several timeouts in a row; the services retry in their workers instead, and answer 503 meanwhile.
    """
    provider = HTTPProvider(rpc_url, request_kwargs={"timeout": (connect_timeout, read_timeout)},
                            exception_retry_configuration=None)
    return Web3(provider)
