"""The distribution a merchant app installs (issue #17): wheels and an sdist that ``python -m build`` makes and
``twine check`` accepts, and a core install (no extras) with no EVM, chain client, web framework or database
driver that still verifies a ``CP1:`` QR and an SD-JWT VC presentation against a saved trust snapshot.

The core install goes into a fresh virtual environment from the built wheel, with its dependencies from the
package index: that is how an app developer gets it. The credentials and the snapshot are made here, with the
full development install, and handed over as files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
from support import ROOT

from credcore._defaults import SecretsSaltSource
from credcore.cp1 import issue_cp1, present_cp1
from credcore.keys import SigningKey
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from verifier.snapshot_file import save_snapshot

pytestmark = pytest.mark.slow
ISSUER = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"
RESIDENT = "urn:civicpass:ResidentCredential:1"
# What the services and the development chain bring, and a merchant app must not have to install.
NOT_IN_CORE = ("web3", "eth_tester", "eth", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg",
               "redis", "pydantic_settings")
APP = r"""
import importlib.util, json, sys
from pathlib import Path

from verifier import MemoryReplayGuard, load_policies, verify_qr
from verifier.snapshot_file import load_snapshot

work = Path(sys.argv[1])
given = json.loads((work / "given.json").read_text())
trust, _ = load_snapshot(work / "trust-snapshot.json")
policy, guard = load_policies()["age-over-19"], MemoryReplayGuard()
out = {"present": [m for m in given["not_in_core"] if importlib.util.find_spec(m) is not None]}
for name in ("cp1", "sd_jwt"):
    first = verify_qr(given[name], trust=trust, policy=policy, now=given["now"], replay=guard,
                      nonce=given.get(name + "_nonce"), audience=given.get("audience"))
    again = verify_qr(given[name], trust=trust, policy=policy, now=given["now"], replay=guard,
                      nonce=given.get(name + "_nonce"), audience=given.get("audience"))
    out[name] = [first.to_json(), again.to_json()]
print(json.dumps(out))
"""


def _run(*cmd: str | Path, timeout: float = 600) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def test_the_build_makes_a_wheel_and_an_sdist_that_twine_accepts(dist):
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    assert "PASSED" in _run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)


def test_a_core_install_verifies_a_cp1_qr_and_an_sd_jwt_vc_against_a_saved_snapshot(dist, tmp_path):
    env_dir = tmp_path / "app-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", next(dist.glob("*.whl")))

    issuer, holder, now = SigningKey.generate(), SigningKey.generate(), int(time.time())
    status_uri = "https://city.example/status-lists/1"
    save_snapshot(tmp_path / "trust-snapshot.json", TrustSnapshot(
        issuers=(TrustedIssuer(ISSUER, "Test City", frozenset({RESIDENT}), (IssuerKey(issuer.public_key),)),),
        status_lists=(StatusListRecord(ISSUER, 1, status_uri, StatusList.empty(64)),),
        block_number=7, synced_at=now))
    claims = {"city": 26000, "district": 26350, "age_over_19": True}
    cp1 = issue_cp1(claims, profile="resident-basic", signer=issuer, holder_key=holder.public_key,
                    status_list_id=1, status_index=3, iat=now - 60, exp=now + 3600)
    sd_jwt = issue_sd_jwt_vc(claims, vct=RESIDENT, issuer=ISSUER, signer=issuer, holder_key=holder.public_key,
                             iat=now - 60, exp=now + 3600, salts=SecretsSaltSource(),
                             status={"status_list": {"idx": 4, "uri": status_uri}})
    audience = "https://merchant.example"
    given = {
        "now": now, "audience": audience, "not_in_core": list(NOT_IN_CORE),
        "cp1": present_cp1(cp1, holder_key=holder, now=now, nonce="shop-7"), "cp1_nonce": "shop-7",
        "sd_jwt": present_sd_jwt(sd_jwt, disclose=["age_over_19"], holder_key=holder, audience=audience,
                                 nonce="n-0123456789", now=now),
        "sd_jwt_nonce": "n-0123456789",
    }
    (tmp_path / "given.json").write_text(json.dumps(given))
    (tmp_path / "app.py").write_text(APP)

    # Run from an empty folder, so that nothing of the source tree can be imported instead of the install.
    out = json.loads(_run(python, "-I", tmp_path / "app.py", tmp_path))
    assert out["present"] == [], f"the core install pulled in {out['present']}"
    for name, fmt in (("cp1", "cp1"), ("sd_jwt", "sd-jwt-vc")):
        first, again = out[name]
        assert first["verified"], (name, first)
        assert first["format"] == fmt and first["claims"]["age_over_19"] is True
        assert not again["verified"] and again["code"] == "replayed", (name, again)
