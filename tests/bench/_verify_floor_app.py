"""The floor ``POST /v1/verify`` is measured against (issue #17): a bare FastAPI endpoint that parses the JSON
body and makes the two P-256 verifications a CP1 check makes (issuer signature, holder proof), and nothing else.

Served by uvicorn exactly like the verifier (same workers, uvloop, httptools, no access log), so the ratio of
the verifier's rate to this one's says how much the verifier spends beyond the unavoidable work.
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI, Request, Response

from credcore.keys import SigningKey


def create_app() -> FastAPI:
    issuer, holder = SigningKey.generate(), SigningKey.generate()
    tbs, proof_input = os.urandom(180), os.urandom(70)
    checks = ((issuer.public_key, issuer.sign(tbs), tbs), (holder.public_key, holder.sign(proof_input), proof_input))
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/verify")
    async def verify(request: Request) -> Response:
        body = json.loads(await request.body())
        verified = isinstance(body, dict) and all(key.verify(sig, data, "ES256") for key, sig, data in checks)
        return Response(b'{"verified":true}' if verified else b'{"verified":false}', media_type="application/json")

    return app
