"""The committed artifacts are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from contracts._artifacts import CONTRACT_NAMES, load_artifact

ROOT = Path(__file__).resolve().parents[2]


def test_artifacts_name_their_source_hash_compiler_and_settings():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["solc"]
    for name in CONTRACT_NAMES:
        artifact = load_artifact(name)
        source = (ROOT / "contracts" / "src" / f"{name}.sol").read_text(encoding="utf-8")
        assert artifact.source_sha256 == hashlib.sha256(source.encode()).hexdigest(), f"{name} is stale"
        assert artifact.solc_version.startswith(pinned + "+")
        raw = json.loads((ROOT / "contracts" / "artifacts" / f"{name}.json").read_text())
        assert raw["settings"] == {
            "evmVersion": "prague",
            "optimizer": {"enabled": True, "runs": 200},
            "metadata": {"bytecodeHash": "none"},
        }
        assert artifact.bytecode and artifact.deployed_bytecode


@pytest.mark.node
def test_recompiling_reproduces_the_committed_artifacts(node_modules: Path):
    cmd = ["node", str(ROOT / "contracts" / "build.mjs"), "--check"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.chain
def test_the_chain_runs_the_committed_bytecode(chain):
    # TrustRegistry has no immutables, so its runtime code must equal the artifact byte for byte.
    code = bytes(chain.w3.eth.get_code(chain.base.trust_registry))
    assert code == load_artifact("TrustRegistry").deployed_bytecode
