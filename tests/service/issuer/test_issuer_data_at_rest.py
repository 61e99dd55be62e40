"""Data at rest on SQLite (issue 13 §7): the database and its -wal/-shm are the owner's only, in a private
directory, and an offer's claims leave both files once they are erased."""

from __future__ import annotations

import stat

from issuer_world import CLERK, RESIDENT, RESIDENT_CLAIMS, TestClient, Wallet, make_settings

from issuer.api.app import build_service, create_app

SECRET_NAME = "Zyxwv Qsecretname"  # appears nowhere but in this offer's claims


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_private(tmp_path, clock, chain):
    db = tmp_path / "state" / "issuer.db"
    settings = make_settings(f"sqlite:///{db}")
    svc = build_service(settings, clock=clock, chain=chain)
    try:
        with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as c:
            assert c.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS}
                          ).status_code == 201
            assert _mode(db.parent) == 0o700
            for name in ("issuer.db", "issuer.db-wal", "issuer.db-shm"):
                assert _mode(db.parent / name) == 0o600, name
    finally:
        svc.sessions.kw["bind"].dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path, clock, chain):
    db = tmp_path / "issuer.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    svc = build_service(make_settings(f"sqlite:///{db}"), clock=clock, chain=chain)
    svc.sessions.kw["bind"].dispose()
    assert _mode(db) == 0o600


def test_claims_of_a_completed_offer_are_gone_from_the_database_and_its_wal(tmp_path, clock, chain):
    db = tmp_path / "issuer.db"
    settings = make_settings(f"sqlite:///{db}")
    svc = build_service(settings, clock=clock, chain=chain)
    secret = SECRET_NAME.encode()
    try:
        with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as c:
            r = c.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT,
                                                          "claims": {**RESIDENT_CLAIMS, "name": SECRET_NAME}})
            assert r.status_code == 201, r.text
            on_disk = db.read_bytes() + (tmp_path / "issuer.db-wal").read_bytes()
            assert secret in on_disk  # the open offer keeps them (this test can see them)
            Wallet(c, clock.now()).receive(r.json()["credential_offer_uri"], r.json()["tx_code"], copies=2)
            svc.worker.run_once()  # the worker's round: the WAL is checkpointed after an erasure
            for name in ("issuer.db", "issuer.db-wal"):
                path = tmp_path / name
                assert not path.exists() or secret not in path.read_bytes(), name
    finally:
        svc.sessions.kw["bind"].dispose()
