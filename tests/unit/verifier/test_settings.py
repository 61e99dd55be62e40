"""VerifierSettings: env prefix, derived paths, and the production rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from verifier.settings import VerifierSettings


def test_env_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("CIVICPASS_VERIFIER_PORT", "8311")
    monkeypatch.setenv("CIVICPASS_VERIFIER_REPLAY_BACKEND", "redis")
    s = VerifierSettings(data_dir=tmp_path)
    assert (s.port, s.replay_backend, s.host) == (8311, "redis", "127.0.0.1")
    assert s.snapshot_path == tmp_path / "trust-snapshot.json"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'verifier.db'}"


def test_unknown_replay_backend_is_refused():
    with pytest.raises(ValidationError):
        VerifierSettings(replay_backend="memcached")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # no chain at all
        {"chain_rpc_url": "http://127.0.0.1:8545"},  # the embedded dev chain
        {"chain_rpc_url": "https://rpc.city.example", "public_url": "https://verify.city.example"},  # no key
        {"chain_rpc_url": "https://rpc.city.example", "request_signing_jwk": "{}"},  # http public_url
    ],
)
def test_prod_refuses_dev_chain_dev_keys_and_plain_http(kwargs):
    with pytest.raises(ValidationError):
        VerifierSettings(environment="prod", **kwargs)


def test_prod_accepts_a_complete_configuration():
    s = VerifierSettings(environment="prod", chain_rpc_url="https://rpc.city.example", request_signing_jwk="{}",
                         public_url="https://verify.city.example/")
    assert s.base_url == "https://verify.city.example"
