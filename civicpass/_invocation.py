"""How a command this program prints can be run as printed: ``scripts/up`` runs ``.venv/bin/civicpass``, which
is not on PATH, so a printed ``civicpass ...`` would not be found there."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path


def command_prefix() -> str:
    """How to run this ``civicpass`` from the current directory: ``civicpass`` when that name on PATH is this
    installation, else the path of its script."""
    script = Path(sys.executable).parent / "civicpass"
    found = shutil.which("civicpass")
    if found is not None and Path(found).resolve() == script.resolve():
        return "civicpass"
    return shlex.quote(relative(script))


def relative(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path.absolute())


def runnable(text: str) -> str:
    """``text`` with each command it quotes in backticks (`civicpass ...`) named as :func:`command_prefix` says."""
    prefix = command_prefix()
    return text if prefix == "civicpass" else re.sub(r"`civicpass(?= )", lambda _: f"`{prefix}", text)
