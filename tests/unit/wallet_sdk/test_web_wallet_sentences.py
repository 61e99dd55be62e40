"""Every error the web wallet can show a resident is a sentence, in Korean and in English, that says what to
do next: each code its user-facing errors carry (wallet_sdk/web/src) has an ``err.<code>`` entry in both
languages of i18n.js, read by node from the module itself."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from support import ROOT

SRC = ROOT / "wallet_sdk" / "web" / "src"
#: Lines that give a code to an error that reaches the screen (the format modules' own errors are caught and
#: re-coded before that); on them, a code is a quoted name passed in, assigned or chosen by a ternary.
USER_FACING = re.compile(r"new (?:Receive|Request|Lock|Backup)Error\(|showError\(|code: '|lastError = ")
CODE = re.compile(r"(?:Error\(|showError\(|code: |\? |: )'([a-z_]+)'")


def _codes() -> set[str]:
    found: set[str] = set()
    for path in SRC.glob("*.js"):
        for line in path.read_text().splitlines():
            if USER_FACING.search(line):
                found.update(CODE.findall(line))
    return found


def test_every_error_code_has_a_sentence_in_both_languages(node_modules: Path) -> None:
    script = f"import('{(SRC / 'i18n.js').as_uri()}').then(m => console.log(JSON.stringify(m.SENTENCES)))"
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    sentences = json.loads(run.stdout)
    codes = _codes()
    assert {"invalid_grant", "wrong_pin", "bad_file", "no_copies", "refresh_limit"} <= codes  # the scan finds them
    for lang in ("ko", "en"):
        missing = sorted(c for c in codes if f"err.{c}" not in sentences[lang])
        assert not missing, (lang, missing)
    assert set(sentences["ko"]) == set(sentences["en"])  # no screen text left untranslated
    for text in sentences["ko"].values():
        assert text.strip()
