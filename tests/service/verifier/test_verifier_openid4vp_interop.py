"""A third-party wallet answers our verifier's OpenID4VP requests: direct_post and direct_post.jwt, GET and POST.

openid4vp_wallet.mjs is a wallet made of pinned npm libraries (the OpenWallet Foundation's
@openid4vc/openid4vp for the protocol, @sd-jwt/sd-jwt-vc for the presentation and KB-JWT, jose for the
JWE). It resolves the QR's openid4vp:// URI against a running verifier, checks the signed request object
under the did:key client identifier, answers, and the verifier's recorded verdict is checked here.
Skips without node, fails under CI.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import serve_app
from verifier_world import World

from credcore._defaults import SystemClock
from verifier.api.app import create_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings

pytestmark = [pytest.mark.node]
SCRIPT = Path(__file__).with_name("openid4vp_wallet.mjs")


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[str, World]]:
    world = World(synced_at=int(time.time()))

    def make(url: str) -> Any:
        settings = VerifierSettings(environment="test", data_dir=tmp_path_factory.mktemp("interop"), public_url=url,
                                    audience="https://verifier.test")
        # The wall clock: the node wallet stamps its KB-JWT with the real time, however long this module takes.
        return create_app(settings, clock=SystemClock(), trust=StaticTrust(world.snapshot()))

    with serve_app(make) as url:
        yield url, world


def wallet(node_modules: Path, uri: str, world: World, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    # A credential issued a minute ago (the world's own issuer), held by the world's holder key.
    credential = world.credential(iat=now - 60, exp=now + 86400)
    payload = {"uri": uri, "credential": credential, "holderJwk": world.holder_key.to_jwk(), **extra}
    proc = subprocess.run(["node", str(SCRIPT)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60, cwd=node_modules.parent, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def start(url: str, **body: Any) -> dict[str, Any]:
    import httpx

    r = httpx.post(f"{url}/v1/requests", json={"policy": "age-over-19", **body})
    assert r.status_code == 200, r.text
    return r.json()


def outcome(url: str, request_id: str) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{url}/v1/requests/{request_id}").json()


@pytest.mark.parametrize(("response_mode", "method"), [
    ("direct_post", "get"), ("direct_post.jwt", "get"), ("direct_post", "post"), ("direct_post.jwt", "post"),
])
def test_third_party_wallet_answers_and_the_verdict_is_verified(node_modules, live, response_mode, method):
    url, world = live
    req = start(url, response_mode=response_mode, request_uri_method=method)
    out = wallet(node_modules, req["uri"], world, walletMetadata=method == "post", encNonce="wallet-nonce-1")
    assert out["status"] == 200, out
    assert out["request"]["client"] == "decentralized_identifier"
    assert out["request"]["response_mode"] == response_mode and out["request"]["disclosed"] == ["age_over_19"]
    result = outcome(url, req["id"])
    assert result["status"] == "done" and result["response_mode"] == response_mode
    assert result["result"]["verified"] is True, result
    assert result["result"]["claims"]["age_over_19"] is True and "city" not in result["result"]["claims"]
    if response_mode == "direct_post.jwt":
        header = out["jweHeader"]
        assert (header["alg"], header["kid"]) == ("ECDH-ES", req["id"])
        assert header["enc"] in ("A128GCM", "A256GCM") and header["epk"]["crv"] == "P-256"
    else:
        assert out.get("jweHeader") is None
    if method == "post":
        # The library POSTed to the request URI. 0.4.6 sends its wallet metadata's members as top-level form
        # fields rather than in wallet_metadata, and no wallet_nonce; §5.10 has the verifier ignore unknown
        # parameters, so the request object comes back as for a bare POST (tests/unit/wallet_sdk covers the rest).
        assert out.get("postForm") is not None and "wallet_metadata" not in out["postForm"]


def test_the_same_answer_cannot_be_replayed(node_modules, live):
    url, world = live
    req = start(url, response_mode="direct_post.jwt")
    assert wallet(node_modules, req["uri"], world)["status"] == 200
    import httpx

    # The request object is spent: a second wallet run is refused when it fetches it.
    assert httpx.get(req["request_uri"]).json()["code"] == "request_used"
