"""The deployment file: where the registries live on which chain, written once and read by every service.

``civicpass chain up`` writes it; the issuer, the verifier and the CLI read it. ``civicpass governance init`` adds
the consortium's TrustGovernance address once it holds the registry's admin role. Private keys of dev accounts
may appear only in a file marked ``dev`` (a throw-away local chain), and loading refuses them otherwise, so a
production deployment file can never smuggle keys around.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from contracts.errors import DeploymentFileError

__all__ = ["Deployment", "DevAccount"]

_FORMAT = "civicpass-deployment/1"


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A funded account of a dev chain. ``role`` says what it is for (``admin``, ``issuer``, ...)."""

    role: str
    address: ChecksumAddress
    private_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Deployment:
    """Chain id, RPC URL and registry addresses; ``from_block`` is where event readers start.

    ``governance`` is the TrustGovernance contract when a consortium was set up (it is not one of
    :attr:`addresses`: trust sync reads only the registries).
    """

    chain_id: int
    trust_registry: ChecksumAddress
    anchor_registry: ChecksumAddress
    status_registry: ChecksumAddress
    from_block: int = 0
    rpc_url: str | None = None
    dev: bool = False
    accounts: tuple[DevAccount, ...] = ()
    governance: ChecksumAddress | None = None

    def __post_init__(self) -> None:
        if not self.dev and any(a.private_key for a in self.accounts):
            raise DeploymentFileError("private keys are only allowed in a dev deployment")

    @property
    def addresses(self) -> tuple[ChecksumAddress, ChecksumAddress, ChecksumAddress]:
        return (self.trust_registry, self.anchor_registry, self.status_registry)

    def account(self, role: str) -> DevAccount:
        """The dev account with ``role``; raises DeploymentFileError if there is none."""
        for a in self.accounts:
            if a.role == role:
                return a
        raise DeploymentFileError("no dev account with that role", role=role)

    # --- JSON ---------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "chainId": self.chain_id,
            "rpcUrl": self.rpc_url,
            "dev": self.dev,
            "fromBlock": self.from_block,
            "contracts": {
                "TrustRegistry": self.trust_registry,
                "AnchorRegistry": self.anchor_registry,
                "StatusRegistry": self.status_registry,
                **({"TrustGovernance": self.governance} if self.governance else {}),
            },
            "accounts": [
                {"role": a.role, "address": a.address, **({"privateKey": a.private_key} if a.private_key else {})}
                for a in self.accounts
            ],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Deployment:
        try:
            if raw.get("format") != _FORMAT:
                raise DeploymentFileError("not a civicpass deployment file")
            contracts = raw["contracts"]
            accounts = tuple(
                DevAccount(role=str(a["role"]), address=_address(a["address"]), private_key=a.get("privateKey"))
                for a in raw.get("accounts", ())
            )
            chain_id, from_block, dev = raw["chainId"], raw.get("fromBlock", 0), raw.get("dev", False)
            if not isinstance(chain_id, int) or not isinstance(from_block, int) or not isinstance(dev, bool):
                raise DeploymentFileError("chainId/fromBlock must be integers and dev a boolean")
            rpc_url = raw.get("rpcUrl")
            if rpc_url is not None and not isinstance(rpc_url, str):
                raise DeploymentFileError("rpcUrl must be a string")
            return cls(
                chain_id=chain_id,
                trust_registry=_address(contracts["TrustRegistry"]),
                anchor_registry=_address(contracts["AnchorRegistry"]),
                status_registry=_address(contracts["StatusRegistry"]),
                from_block=from_block,
                rpc_url=rpc_url,
                dev=dev,
                accounts=accounts,
                governance=_address(contracts["TrustGovernance"]) if "TrustGovernance" in contracts else None,
            )
        except (KeyError, TypeError, AttributeError):
            raise DeploymentFileError("deployment file lacks a required member") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file (0600 when it holds dev keys), replacing any previous one atomically."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        text = json.dumps(self.to_json(), indent=2) + "\n"
        tmp.write_text(text, encoding="utf-8")
        if any(a.private_key for a in self.accounts):
            tmp.chmod(0o600)
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Deployment:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError:
            raise DeploymentFileError("cannot read the deployment file") from None
        except ValueError:
            raise DeploymentFileError("deployment file is not JSON") from None
        if not isinstance(raw, dict):
            raise DeploymentFileError("deployment file is not a JSON object")
        return cls.from_json(raw)


def _address(value: object) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise DeploymentFileError("not an Ethereum address")
    return to_checksum_address(value)
