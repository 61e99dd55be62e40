"""A command the program prints runs as printed: where ``civicpass`` is not on PATH (``scripts/up`` runs
``.venv/bin/civicpass``), it is named by its script's path."""

from __future__ import annotations

import sys
from pathlib import Path

from civicpass.cli import main

SCRIPT = Path(sys.executable).parent / "civicpass"


def test_a_refusals_hint_names_the_script_when_civicpass_is_not_on_path(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["governance", "members"]) == 2  # no deployment file here
    err = capsys.readouterr().err
    assert f"`{SCRIPT} up`" in err and f"`{SCRIPT} chain up`" in err and "`civicpass " not in err


def test_plain_civicpass_when_it_is_this_one_on_path(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: str(SCRIPT))
    assert main(["governance", "members"]) == 2
    assert "`civicpass up`" in capsys.readouterr().err
