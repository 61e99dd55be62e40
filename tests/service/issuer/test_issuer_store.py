"""Storage: the Alembic migration matches the models on both databases, the hot path's plain inserts behave
like Core ones (errors, conflicts, one transaction), the audit chain detects edits, signing keys are sealed
at rest, and settings refuse development secrets in production."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from credcore.errors import InvalidKeyError
from credcore.keys import SigningKey
from issuer import audit
from issuer.keys import seal, unseal
from issuer.settings import IssuerSettings
from issuer.store.db import make_engine, make_sessionmaker, upgrade
from issuer.store.models import (
    AuditEvent,
    Base,
    Credential,
    CredentialItem,
    DeskHolderIndex,
    SigningKeyRow,
    table_of,
)
from issuer.store.rows import RowInsert


def test_migration_creates_exactly_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent: runs on every start
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
    assert "uq_status_slot" in {c["name"] for c in inspect(engine).get_unique_constraints("credential_items")}
    engine.dispose()


def test_holder_index_keeps_its_rows_through_0005_and_start_indexes_offers_that_still_hold_claims(
        db_url, clock, chain):
    from issuer_world import RESIDENT, RESIDENT_CLAIMS, make_settings

    from issuer import offers
    from issuer.api.app import build_service

    engine = make_engine(db_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:  # the desk indexed its offers before 0005
        conn.execute(text("INSERT INTO desk_holder_index (digest, offer_id) VALUES (:d, :o)"),
                     {"d": "d" * 64, "o": "0" * 32})
    upgrade(engine)
    with make_sessionmaker(engine).begin() as session:  # an offer made through the admin API before 0005
        claims = json.dumps({**RESIDENT_CLAIMS, "age_over_19": True})
        api_offer = offers.create_offer(session, vct=RESIDENT, claims_json=claims, actor="clerk:0badf00d",
                                        now=clock.now(), ttl=600, pin_length=6).offer_id
    engine.dispose()

    def index() -> list[tuple[str, str | None, str | None]]:
        with service.sessions() as s:
            rows = s.execute(select(DeskHolderIndex.digest, DeskHolderIndex.offer_id, DeskHolderIndex.credential_id))
            return sorted(tuple(r) for r in rows)

    service = build_service(make_settings(db_url), clock=clock, chain=chain)
    holders = service.holders
    expected = sorted([("d" * 64, "0" * 32, None), (holders.digest("name", RESIDENT_CLAIMS["name"]), api_offer, None),
                       (holders.digest("birth_date", RESIDENT_CLAIMS["birth_date"]), api_offer, None)])
    assert index() == expected
    service.start()  # every start runs it: nothing twice
    assert index() == expected
    service.sessions.kw["bind"].dispose()


def test_sqlite_runs_in_wal_mode_with_temporary_files_in_memory(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
    engine.dispose()


def test_row_insert_returns_what_went_in_and_raises_sqlalchemy_errors(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    events = table_of(AuditEvent)
    columns = ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash")
    plain = RowInsert(events, columns)
    ignoring = RowInsert(events, columns, ignore_conflicts=True, returning=("seq",))
    rows = [(i, 1, "a", "x", "t", "{}", "p", f"h{i}") for i in (1, 2)]
    with engine.begin() as conn:
        assert plain(conn, rows) == ()
        assert [tuple(r) for r in ignoring(conn, [rows[1], (3, 1, "a", "x", "t", "{}", "p", "h3")])] == [(3,)]
    with pytest.raises(IntegrityError), engine.begin() as conn:  # wrapped like Core, so handlers and retries see it
        plain(conn, [(4, 1, "a", "x", "t", "{}", "p", "h4"), rows[0]])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(events)) == 3  # the failed statement took nothing along
    with pytest.raises(KeyError):
        RowInsert(events, ("seq", "no_such_column"))
    engine.dispose()


def test_a_failure_inside_the_issuance_transaction_leaves_nothing(service, monkeypatch):
    from issuer_world import RESIDENT, RESIDENT_CLAIMS, HolderKey

    from credcore.keys import PublicKey

    def keys() -> list[PublicKey]:
        return [PublicKey.from_jwk(HolderKey().jwk) for _ in range(3)]

    def stored() -> tuple[int, int, int]:
        with service.sessions() as s:
            return (s.scalar(select(func.count()).select_from(Credential)) or 0,
                    s.scalar(select(func.count()).select_from(CredentialItem)) or 0, audit.verify_chain(s))

    before = stored()

    def broken_append(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise RuntimeError("audit store down")  # after the credential and its slots went in

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        service.admin.issue_direct("clerk:test", RESIDENT, RESIDENT_CLAIMS, keys())
    assert stored() == before
    monkeypatch.undo()
    issued = service.admin.issue_direct("clerk:test", RESIDENT, RESIDENT_CLAIMS, keys())
    assert stored() == (before[0] + 1, before[1] + 3, before[2] + 1) and len(issued.credentials) == 3


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_audit_chain_verifies_and_detects_edits(sessions):
    with sessions.begin() as s:
        for i in range(5):
            audit.append(s, at=1000 + i, actor="operator:abcd", action="credential.revoke", target=f"c{i}")
    with sessions() as s:
        assert audit.verify_chain(s) == 5
    with sessions.begin() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(target="other"))
    with sessions() as s, pytest.raises(ValueError, match="altered"):
        audit.verify_chain(s)


def test_audit_chain_detects_a_deleted_event(sessions):
    with sessions.begin() as s:
        for i in range(3):
            audit.append(s, at=1000 + i, actor="a", action="x", target=str(i))
        s.execute(AuditEvent.__table__.delete().where(AuditEvent.seq == 2))
    with sessions() as s, pytest.raises(ValueError, match="broken"):
        audit.verify_chain(s)


def test_audit_head_hints_stay_correct_with_other_writers_and_rollbacks(sessions):
    hints = [audit.HeadHint(), audit.HeadHint()]  # two worker processes
    for i in range(6):
        with sessions.begin() as s:
            head = audit.append(s, at=i, actor="a", action="x", target=str(i), hint=hints[i % 2])
        hints[i % 2].committed(head)
    with pytest.raises(RuntimeError), sessions.begin() as s:
        audit.append(s, at=9, actor="a", action="x", target="rolled back", hint=hints[0])
        raise RuntimeError
    with sessions.begin() as s:
        hints[0].committed(audit.append(s, at=10, actor="a", action="x", target="last", hint=hints[0]))
    with sessions() as s:
        assert audit.verify_chain(s) == 7
        assert [e.target for e in audit.entries(s)][-1] == "last"


def test_sealed_key_round_trips_and_refuses_wrong_passphrase_or_swap():
    key, other = SigningKey.generate(), SigningKey.generate()
    blob = seal(key, "correct horse")
    assert key.secret_bytes() not in blob
    assert unseal(blob, "correct horse", key.public_key.thumbprint()).public_key == key.public_key
    with pytest.raises(InvalidKeyError):
        unseal(blob, "wrong", key.public_key.thumbprint())
    with pytest.raises(InvalidKeyError):  # moved onto another key's row: the AAD no longer matches
        unseal(blob, "correct horse", other.public_key.thumbprint())
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidKeyError):
        unseal(tampered, "correct horse", key.public_key.thumbprint())


def test_key_is_generated_once_and_stored_sealed(sqlite_url, clock, chain):
    from issuer_world import make_settings

    from issuer.api.app import build_service

    first = build_service(make_settings(sqlite_url), clock=clock, chain=chain)
    kid = first.keys.ring.active_kid
    with first.sessions() as s:
        row = s.get(SigningKeyRow, kid)
        assert row is not None and first.keys.ring.active.secret_bytes() not in row.sealed_secret
    first.sessions.kw["bind"].dispose()
    again = build_service(make_settings(sqlite_url), clock=clock, chain=chain)
    assert again.keys.ring.active_kid == kid
    again.sessions.kw["bind"].dispose()
    with pytest.raises(InvalidKeyError):
        build_service(make_settings(sqlite_url, key_passphrase=SecretStr("not the one")), clock=clock, chain=chain)


# --- settings --------------------------------------------------------------------------------------
PROD = {"environment": "prod", "key_passphrase": SecretStr("a long production passphrase"),
        "clerk_tokens": [SecretStr("c" * 40)], "operator_tokens": [SecretStr("o" * 40)],
        "chain_rpc_url": "https://rpc.city.example", "chain_account_key": SecretStr("0x" + "11" * 32)}


def test_prod_settings_accept_real_secrets():
    assert IssuerSettings(**PROD).environment == "prod"


@pytest.mark.parametrize(("field", "value"), [
    ("key_passphrase", SecretStr("civicpass-dev-passphrase")),
    ("clerk_tokens", [SecretStr("dev-clerk-token")]),
    ("operator_tokens", [SecretStr("short")]),
    ("chain_rpc_url", "http://127.0.0.1:8545"),
    ("chain_rpc_url", None),
    ("chain_account_key", None),
])
def test_prod_settings_refuse_dev_secrets_and_the_embedded_chain(field, value):
    with pytest.raises(ValidationError):
        IssuerSettings(**{**PROD, field: value})


def test_settings_read_the_environment_with_prefix(monkeypatch):
    monkeypatch.setenv("CIVICPASS_ISSUER_BASE_URL", "https://issuer.busan.example")
    monkeypatch.setenv("CIVICPASS_ISSUER_CLERK_TOKENS", '["t1", "t2"]')
    monkeypatch.setenv("CIVICPASS_ISSUER_STATUS_PUBLISH_INTERVAL", "5")
    s = IssuerSettings()
    assert s.base_url == "https://issuer.busan.example" and s.status_publish_interval == 5.0
    assert [t.get_secret_value() for t in s.clerk_tokens] == ["t1", "t2"]
    assert "t1" not in repr(s) and "passphrase" not in repr(s.key_passphrase)


def test_route_threads_default_to_one_on_sqlite_and_four_on_postgresql(db_url, clock, chain):
    import anyio.to_thread
    from issuer_world import TestClient, make_settings

    from issuer.api.app import build_service, create_app

    default = 1 if db_url.startswith("sqlite") else 4
    for setting, expected in ((None, default), (3, 3)):
        settings = make_settings(db_url, worker_threads=setting)
        svc = build_service(settings, clock=clock, chain=chain)
        app = create_app(settings, service=svc)

        @app.get("/threads")
        async def threads() -> int:
            return anyio.to_thread.current_default_thread_limiter().total_tokens

        with TestClient(app) as client:
            assert client.get("/threads").json() == expected
