"""Deploying the registries onto the embedded chain once, and recognising an existing deployment."""

from __future__ import annotations

import pytest
from web3 import HTTPProvider, Web3

from chain_local import provision, start_embedded
from contracts import Deployment
from contracts.errors import DeploymentFileError

pytestmark = pytest.mark.chain


def test_deploys_once_then_reuses_on_the_same_chain(tmp_path):
    path = tmp_path / "civicpass" / "deployment.json"
    with start_embedded(0, tmp_path / "chain.journal") as running:
        deployment, reused = provision(running, path)
        assert not reused and Deployment.load(path) == deployment
        assert deployment.dev and deployment.account("admin").address == running.accounts[0].address
        w3 = Web3(HTTPProvider(running.url))
        assert all(w3.eth.get_code(a) for a in deployment.addresses)
        height = w3.eth.block_number
        again, reused = provision(running, path)
        assert reused and again == deployment and w3.eth.block_number == height  # nothing sent


def test_fresh_chain_redeploys_at_the_same_addresses(tmp_path):
    path = tmp_path / "deployment.json"
    with start_embedded(0) as running:
        first, _ = provision(running, path)
    with start_embedded(0) as running:  # no --state: the old contracts are gone, the file is stale
        second, reused = provision(running, path)
        assert not reused and second.addresses == first.addresses
        assert all(Web3(HTTPProvider(running.url)).eth.get_code(a) for a in second.addresses)


def test_a_foreign_deployment_file_is_not_overwritten(tmp_path):
    path = tmp_path / "deployment.json"
    path.write_text('{"hello": "world"}')
    with start_embedded(0) as running, pytest.raises(DeploymentFileError):
        provision(running, path)
    assert path.read_text() == '{"hello": "world"}'
