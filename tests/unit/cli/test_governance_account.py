"""``civicpass governance account`` says to fund the new keystore's account only when the chain says it holds no
ether (a dev account imported with --dev-account already does), and makes the keystore without a chain too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import serve_app

from civicpass.cli import main


@pytest.fixture
def here(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE", "payer passphrase")
    return tmp_path


@pytest.fixture
def chain() -> Iterator[tuple[str, dict[str, int]]]:
    """A JSON-RPC endpoint that answers eth_getBalance with ``balance["wei"]``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    balance = {"wei": 0}

    async def rpc(request: Request) -> JSONResponse:
        call: dict[str, Any] = await request.json()
        assert call["method"] == "eth_getBalance"
        return JSONResponse({"jsonrpc": "2.0", "id": call["id"], "result": hex(balance["wei"])})

    with serve_app(lambda url: Starlette(routes=[Route("/", rpc, methods=["POST"])])) as url:
        yield url, balance


def _account(capsys: pytest.CaptureFixture[str], out: str, *extra: str) -> str:
    assert main(["governance", "account", "--out", out, "--insecure-fast-kdf", *extra]) == 0
    return capsys.readouterr().out


def test_an_account_with_ether_is_not_told_to_fund_it(here, chain, capsys):
    url, balance = chain
    balance["wei"] = 10_000 * 10**18
    said = _account(capsys, "rich.json", "--rpc-url", url)
    assert "fund it" not in said and "holds 10000 ether" in said


def test_an_account_without_ether_is_told_to_fund_it(here, chain, capsys):
    url, _ = chain
    assert "fund it" in _account(capsys, "empty.json", "--rpc-url", url)


def test_without_a_chain_the_keystore_is_made_and_the_balance_left_unsaid(here, capsys):
    said = _account(capsys, "offline.json")  # no deployment file here
    assert (here / "offline.json").is_file() and "fund it" not in said and "no chain answered" in said
    said = _account(capsys, "down.json", "--rpc-url", "http://127.0.0.1:9")  # nothing listens there
    assert (here / "down.json").is_file() and "no chain answered" in said
