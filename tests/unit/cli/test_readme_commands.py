"""The ``civicpass`` commands README.md and docs/ show are ones the command line takes: each is parsed by the real
parser (sub-commands, options, choices), placeholders such as FILE standing for values. A command in a shell block
names ``.venv/bin/civicpass`` (``scripts/up`` does not put ``civicpass`` on PATH), so it runs as printed there; the
demo's own printed commands are run for real by tests/e2e/test_e2e_up.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from civicpass.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SCRIPT = ".venv/bin/civicpass "


def _shell_lines(text: str) -> list[str]:
    """The lines of the fenced blocks marked sh (or unmarked), however indented."""
    lines, language = [], None
    for line in text.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            language = fence.group(1) if language is None else None
        elif language in ("", "sh", "bash") and line.strip():
            lines.append(line.strip())
    return lines


def _commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        lines = [line for line in _shell_lines(text) if line.startswith((_SCRIPT, "scripts/up"))]
        spans = [span for span in re.findall(r"`([^`\n]+)`", text.replace("\n   ", " "))
                 if span.startswith(_SCRIPT) and not span.endswith(" ...")]  # `civicpass wallet qr ...` names one
        found += [(doc.name, command) for command in lines + spans]
    return found


def test_shell_blocks_name_the_script_scripts_up_installs():
    bare = [(doc.name, line) for doc in DOCS for line in _shell_lines(doc.read_text(encoding="utf-8"))
            if line.startswith("civicpass ")]
    assert bare == [], "civicpass is not on PATH after scripts/up: write .venv/bin/civicpass"


def test_there_are_commands_to_check():
    assert len(_commands()) >= 10


@pytest.mark.parametrize(("doc", "command"), _commands())
def test_a_shown_command_parses(doc, command):
    argv = [word.strip("[]") for word in shlex.split(command, comments=True) if word not in ("...", "|")]
    argv = argv[1:] if argv[0] != "scripts/up" else ["up", *argv[1:]]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{doc}: `{command}` is not a command civicpass takes (exit {exc.code})")
