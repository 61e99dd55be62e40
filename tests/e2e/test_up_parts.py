"""The pieces of ``civicpass up`` that need no running system: the data directory's saved choices and
secrets, the per-service database URLs, the request log line, and the supervisor's stop order."""

from __future__ import annotations

import json
import signal
import stat

import pytest

from civicpass._up_layout import Layout, UpError, chain_kind, database_url, port_free
from civicpass._up_stack import Supervisor


def test_ports_are_saved_reused_and_bound_to_the_chain_choice(tmp_path):
    layout = Layout(tmp_path / "d")
    first = layout.resolve_ports("embedded", {"chain": 0, "verifier": 0})
    assert first["cityhall"] == 8100 and first["market"] == 8101 and first["chain"] not in (0, 8545)
    assert layout.resolve_ports("embedded", {}) == first  # a restart keeps the URLs credentials point at
    assert layout.resolve_ports("embedded", {"verifier": 9999})["verifier"] == 9999
    layout.deployment.write_text("{}")  # once something was deployed, the chain is part of the state
    with pytest.raises(UpError, match="--chain embedded"):
        layout.resolve_ports("anvil", {})
    with pytest.raises(UpError):
        layout.resolve_ports("embedded", {"chain": 70000})


def test_secrets_are_generated_once_private_and_distinct(tmp_path):
    layout = Layout(tmp_path / "d")
    created = layout.secrets()
    assert stat.S_IMODE(layout.secrets_path.stat().st_mode) == 0o600
    assert layout.secrets() == created
    tokens = [v for i in created["issuers"].values() for k, v in i.items() if k.endswith("token")]
    assert len(set(tokens)) == 4 and all(len(t) >= 24 for t in tokens)
    layout.record_issuer_urls({"cityhall": "http://127.0.0.1:8100"})
    assert json.loads(layout.secrets_path.read_text())["issuers"]["cityhall"]["url"] == "http://127.0.0.1:8100"
    assert stat.S_IMODE(layout.secrets_path.stat().st_mode) == 0o600


def test_database_urls_and_chain_choice(tmp_path):
    assert database_url(None, tmp_path / "i.db", "civicpass_x") == f"sqlite:///{tmp_path}/i.db"
    pg = database_url("postgresql+psycopg://u:p@db:5432/city", tmp_path, "civicpass_cityhall")
    assert pg.startswith("postgresql+psycopg://u:p@db:5432/city?") and "search_path%3Dcivicpass_cityhall" in pg
    with pytest.raises(UpError):
        database_url("sqlite:///x.db", tmp_path, "s")
    assert [chain_kind(c) for c in ("embedded", "anvil", "https://rpc.example")] == ["embedded", "anvil", "url"]
    with pytest.raises(UpError):
        chain_kind("ganache")


def test_each_demo_clerk_token_issues_for_its_desk_people_office(tmp_path, monkeypatch):
    from civicpass._up_desk import token_offices
    from civicpass._up_layout import DEMO_ISSUERS
    from issuer.settings import IssuerSettings, token_actor

    created = Layout(tmp_path / "d").secrets()
    for issuer in DEMO_ISSUERS:
        own = created["issuers"][issuer.name]
        monkeypatch.setenv("CIVICPASS_ISSUER_CLERK_TOKENS", json.dumps([own["clerk_token"]]))
        monkeypatch.setenv("CIVICPASS_ISSUER_TOKEN_OFFICES", token_offices(issuer, own))
        assert IssuerSettings().token_offices == {token_actor("clerk", own["clerk_token"]): issuer.title}


def test_port_free_sees_a_listener():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not port_free("127.0.0.1", s.getsockname()[1])


def test_supervisor_stops_services_before_the_chain(tmp_path):
    order = tmp_path / "order.txt"
    script = ("import signal,sys,time\n"
              "def bye(*_):\n    time.sleep(0.3 if sys.argv[1] == 'svc' else 0)\n"
              "    open(sys.argv[2],'a').write(sys.argv[1]+'\\n'); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, bye); signal.signal(signal.SIGINT, bye)\n"
              "open(sys.argv[2]+'.'+sys.argv[1],'w').close()\ntime.sleep(60)\n")
    with Supervisor() as sup:
        chain = sup.python("chain", ["-c", script, "chain", str(order)], {}, stop_signal=signal.SIGINT)
        svc = sup.python("svc", ["-c", script, "svc", str(order)], {})
        ready = [tmp_path / "order.txt.chain", tmp_path / "order.txt.svc"]
        sup.wait_for("children", lambda: all(p.exists() for p in ready), None, timeout=30)
        assert sup.dead() is None
    # the service took longer to stop, and the chain was still only signalled after it had exited
    assert order.read_text().split() == ["svc", "chain"]
    assert chain.proc.returncode == 0 and svc.proc.returncode == 0
