"""The web wallet's passkey wrap (wallet_sdk/web/src/passkey.js), checked by node and then by Python.

node runs wallet_sdk/web/tests/passkey_lock.mjs: it wraps a data key under a PRF output and unwraps it, sees
another PRF output refused, drives createPasskey/evaluatePasskey against a stand-in authenticator (PRF output
at creation, PRF enabled but evaluated only by an assertion, no PRF) and asks passkeySupport for its reasons.
Python then unwraps the browser's wrap with its own HKDF-SHA-256 and AES-KW (RFC 5869, RFC 3394), so the
derivation is the one the README states, not merely one that agrees with itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from support import ROOT

SCRIPT = ROOT / "wallet_sdk" / "web" / "tests" / "passkey_lock.mjs"
PRF = bytes(range(32))
DATA_KEY = bytes(range(100, 132))


def test_the_browser_wraps_the_data_key_under_hkdf_of_the_prf_output(node_modules: Path) -> None:
    run = subprocess.run(["node", str(SCRIPT), PRF.hex(), DATA_KEY.hex()], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert {"another PRF output does not unwrap", "PRF enabled without output: evaluated by an assertion",
            "no PRF: no output", "an IPv4 address", "no platform authenticator"} <= set(out["checks"])
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"civicpass wallet lock: passkey PRF wrap v1").derive(PRF)
    assert aes_key_unwrap(kek, bytes.fromhex(out["wrapped_hex"])) == DATA_KEY
