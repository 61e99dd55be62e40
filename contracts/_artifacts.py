"""The committed compiler output (contracts/artifacts/*.json), loaded once per process.

The artifacts are built by ``node contracts/build.mjs`` and checked by a test, so nothing here ever compiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

__all__ = ["CONTRACT_NAMES", "GOVERNANCE", "Artifact", "load_artifact"]

CONTRACT_NAMES: Final = ("TrustRegistry", "AnchorRegistry", "StatusRegistry")
#: Deployed later, by the consortium, and only where wanted (contracts/governance.py).
GOVERNANCE: Final = "TrustGovernance"


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    solc_version: str
    source_sha256: str


@cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract ``name`` (one of :data:`CONTRACT_NAMES`, or :data:`GOVERNANCE`)."""
    if name not in CONTRACT_NAMES and name != GOVERNANCE:
        raise KeyError(name)
    text = resources.files("contracts").joinpath("artifacts", f"{name}.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    return Artifact(
        name=raw["contractName"],
        abi=tuple(raw["abi"]),
        bytecode=bytes.fromhex(raw["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(raw["deployedBytecode"][2:]),
        solc_version=raw["solcVersion"],
        source_sha256=raw["sourceSha256"],
    )
