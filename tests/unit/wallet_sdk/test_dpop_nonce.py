"""The wallet's side of server-provided DPoP nonces (RFC 9449 §8, §9), against an issuer over MockTransport: the
nonce an answer gives goes into the next proof to that server, a refusal asking for one is signed once more and
only once, and a nonce header a proof could not carry is ignored."""

from __future__ import annotations

import httpx
import pytest

from credcore import jws
from credcore.keys import SigningKey
from wallet_sdk._dpop import dpop_signer
from wallet_sdk._http import Peer
from wallet_sdk.errors import IssuerRefusedError

URL = "https://issuer.example/token"


def nonces_in(requests: list[httpx.Request]) -> list[object]:
    return [jws.parse(r.headers["dpop"], typ="dpop+jwt").payload.get("nonce") for r in requests]


def serve(answers: list[httpx.Response]) -> tuple[Peer, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return Peer(httpx.Client(transport=httpx.MockTransport(handler))), seen


def use_nonce(nonce: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": nonce})


def test_a_refusal_asking_for_a_nonce_is_signed_again_with_it_and_the_next_nonce_is_kept():
    proofs = dpop_signer(SigningKey.generate(), method="POST", url=URL, now=1_800_000_000)
    peer, seen = serve([use_nonce("n-1"), httpx.Response(200, json={}, headers={"DPoP-Nonce": "n-2"}),
                        use_nonce("n-3", 401), httpx.Response(200, json={})])
    assert peer.request("POST", URL, what="token", dpop=proofs).status == 200
    assert peer.request("POST", URL, what="credential", dpop=proofs).status == 200
    assert nonces_in(seen) == [None, "n-1", "n-2", "n-3"]  # the answer's nonce goes into the next proof


def test_a_second_refusal_is_not_retried_again():
    proofs = dpop_signer(SigningKey.generate(), method="POST", url=URL, now=1_800_000_000)
    peer, seen = serve([use_nonce("n-1"), use_nonce("n-2")])
    with pytest.raises(IssuerRefusedError) as refused:
        peer.request("POST", URL, what="token", dpop=proofs)
    assert refused.value.context["error"] == "use_dpop_nonce" and len(seen) == 2


@pytest.mark.parametrize("header", [b"", b"two words", "é".encode(), b"x" * 513, b"\x7f"])
def test_a_nonce_a_proof_could_not_carry_is_not_taken(header):
    proofs = dpop_signer(SigningKey.generate(), method="POST", url=URL, now=1_800_000_000)
    peer, seen = serve([httpx.Response(400, json={"error": "use_dpop_nonce"}, headers=[(b"DPoP-Nonce", header)])])
    with pytest.raises(IssuerRefusedError):
        peer.request("POST", URL, what="token", dpop=proofs)
    assert nonces_in(seen) == [None] and peer.dpop_nonces == {}


def test_a_request_without_dpop_is_never_retried():
    peer, seen = serve([use_nonce("n-1")])
    with pytest.raises(IssuerRefusedError):
        peer.request("POST", URL, what="token")
    assert len(seen) == 1 and "dpop" not in seen[0].headers
