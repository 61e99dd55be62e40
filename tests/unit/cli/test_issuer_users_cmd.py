"""``civicpass issuer users add|list|disable|reset`` on a SQLite issuer database: each action lands in the
database and the audit log, a password is checked for length, and the account behaves as the desk sees it."""

from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from civicpass.cli import main
from issuer import audit
from issuer.desk import accounts
from issuer.store.db import make_engine, make_sessionmaker
from issuer.store.models import AuditEvent


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def users(monkeypatch, data_dir, *args, password=None):
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["issuer", "users", *args, "--data-dir", str(data_dir)])


def sign_in(data_dir, password):
    engine = make_engine(f"sqlite:///{data_dir}/issuer.db")
    try:
        with make_sessionmaker(engine).begin() as session:
            try:
                accounts.sign_in(session, "kim", password, now=1_000, max_failures=5, lockout=60, idle=60,
                                 max_age=600)
                return True
            except accounts.SignInRefusedError:
                return False
    finally:
        engine.dispose()


def test_add_list_reset_disable(monkeypatch, tmp_path, capsys):
    assert users(monkeypatch, tmp_path, "add", "kim", "--role", "clerk", "--name", "김민지", "--office", "해운대구청",
                 "--password-stdin", password="first password 1") == 0
    assert users(monkeypatch, tmp_path, "add", "kim", "--role", "clerk", "--name", "x", "--office", "y",
                 "--password-stdin", password="first password 1") == 2
    assert users(monkeypatch, tmp_path, "list") == 0
    assert "kim\tclerk\t해운대구청\t김민지\tactive" in capsys.readouterr().out
    assert sign_in(tmp_path, "first password 1")

    assert users(monkeypatch, tmp_path, "reset", "kim", "--password-stdin", password="short") == 2
    assert users(monkeypatch, tmp_path, "reset", "kim", "--password-stdin", password="second password 2") == 0
    assert not sign_in(tmp_path, "first password 1") and sign_in(tmp_path, "second password 2")

    assert users(monkeypatch, tmp_path, "disable", "kim") == 0
    assert not sign_in(tmp_path, "second password 2")
    assert users(monkeypatch, tmp_path, "disable", "nobody") == 2

    engine = make_engine(f"sqlite:///{tmp_path}/issuer.db")
    with make_sessionmaker(engine)() as session:
        actions = [a for a in session.scalars(select(AuditEvent.action)) if a.startswith("user.")]
        assert actions == ["user.added", "user.password_reset", "user.disabled"]
        assert audit.verify_chain(session) > 0
    engine.dispose()


def test_the_data_dir_of_civicpass_up_is_refused_with_the_issuer_directories_to_use(monkeypatch, tmp_path, capsys):
    for name in ("cityhall", "market"):  # civicpass up's layout: one database per issuer under issuers/
        (tmp_path / "issuers" / name).mkdir(parents=True)
        (tmp_path / "issuers" / name / "issuer.db").touch()
    assert users(monkeypatch, tmp_path, "add", "kim", "--role", "clerk", "--name", "김민지", "--office", "해운대구청",
                 "--password-stdin", password="first password 1") == 2
    err = capsys.readouterr().err
    assert f"--data-dir {tmp_path}/issuers/cityhall" in err and "cityhall, market" in err
    assert not (tmp_path / "issuer.db").exists()  # no database that no issuer reads
    assert users(monkeypatch, tmp_path / "issuers" / "cityhall", "add", "kim", "--role", "clerk", "--name", "김민지",
                 "--office", "해운대구청", "--password-stdin", password="first password 1") == 0


def test_list_disable_reset_need_an_existing_database(monkeypatch, tmp_path, capsys):
    for action in (["list"], ["disable", "kim"], ["reset", "kim", "--password-stdin"]):
        assert users(monkeypatch, tmp_path, *action, password="first password 1") == 2
        assert "no issuer database at" in capsys.readouterr().err
    assert not (tmp_path / "issuer.db").exists()


def test_a_password_prompt_without_input_is_bad_input_not_a_traceback(monkeypatch, tmp_path, capsys):
    def no_terminal(prompt=""):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", no_terminal)
    assert users(monkeypatch, tmp_path, "add", "kim", "--role", "clerk", "--name", "Kim", "--office", "Haeundae") == 2
    assert "--password-stdin" in capsys.readouterr().err
