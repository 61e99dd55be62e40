"""A small world for verifier service tests: one accredited issuer, a status list, a holder, a fixed clock.

The trust snapshot is built directly (the chain-synced path has its own tests in test_trust_sync.py), so
these tests are about the HTTP contract and the verdicts.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from credcore.cp1 import issue_cp1, present_cp1
from credcore.keys import SigningKey
from credcore.profiles import business_number_digest
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt
from credcore.status_list import Status, StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

with warnings.catch_warnings():  # starlette warns that its TestClient prefers httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FIXED_NOW = 1_795_000_000  # as tests/conftest.py:FIXED_NOW (a conftest cannot be imported by name)
RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
ISSUER = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"
LIST_URI = "https://issuer.test/status-lists/1"
AUDIENCE = "https://verifier.test"
REVOKED_IDX, SUSPENDED_IDX = 1, 2
RESIDENT_CLAIMS = {"city": 26000, "district": 26350, "age_over_19": True}
MERCHANT_CLAIMS = {"business_number_digest": business_number_digest("123-45-67890"), "market": 12,
                   "small_business": True, "programmes": [7]}


class FixedClock:
    def __init__(self, now: int = FIXED_NOW) -> None:
        self.t = now

    def now(self) -> int:
        return self.t


class CountingSalts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return f"salt-{next(self._n):08d}-abcdefghij"


@dataclass
class World:
    issuer_key: SigningKey = field(default_factory=SigningKey.generate)
    holder_key: SigningKey = field(default_factory=SigningKey.generate)
    clock: FixedClock = field(default_factory=FixedClock)
    key_valid_from: int = 0
    key_revoked_at: int | None = None
    synced_at: int = FIXED_NOW - 10
    suspended_at: int | None = None
    _idx: Iterator[int] = field(default_factory=lambda: itertools.count(10))

    def snapshot(self) -> TrustSnapshot:
        lst = StatusList.empty(64).set(REVOKED_IDX, Status.INVALID).set(SUSPENDED_IDX, Status.SUSPENDED)
        key = IssuerKey(self.issuer_key.public_key, valid_from=self.key_valid_from, revoked_at=self.key_revoked_at)
        issuer = TrustedIssuer(ISSUER, "Test City", frozenset({RESIDENT, MERCHANT}), (key,),
                               suspended_at=self.suspended_at)
        return TrustSnapshot(issuers=(issuer,), status_lists=(StatusListRecord(ISSUER, 1, LIST_URI, lst),),
                             block_number=42, synced_at=self.synced_at)

    def credential(self, claims: dict[str, Any] | None = None, *, vct: str = RESIDENT, idx: int | None = None,
                   iat: int | None = None, exp: int | None = None, signer: SigningKey | None = None,
                   issuer: str = ISSUER) -> str:
        iat = FIXED_NOW - 100 if iat is None else iat
        return issue_sd_jwt_vc(
            claims if claims is not None else {"city": 26000, "district": 26350, "age_over_19": True},
            vct=vct, issuer=issuer, signer=signer or self.issuer_key, holder_key=self.holder_key.public_key,
            iat=iat, exp=exp if exp is not None else iat + 86400, salts=CountingSalts(),
            status={"status_list": {"idx": next(self._idx) if idx is None else idx, "uri": LIST_URI}},
        )

    def cp1(self, claims: dict[str, Any] | None = None, *, profile: str = "resident-basic", idx: int | None = None,
            iat: int | None = None, exp: int | None = None) -> bytes:
        if claims is None:
            claims = RESIDENT_CLAIMS if profile == "resident-basic" else MERCHANT_CLAIMS
        iat = FIXED_NOW - 100 if iat is None else iat
        return issue_cp1(claims, profile=profile, signer=self.issuer_key, holder_key=self.holder_key.public_key,
                         status_list_id=1, status_index=next(self._idx) if idx is None else idx, iat=iat,
                         exp=exp if exp is not None else iat + 86400)

    def show(self, credential: bytes, *, nonce: str | None = None, now: int | None = None) -> str:
        """The CP1: text a wallet shows as a QR code."""
        return present_cp1(credential, holder_key=self.holder_key, now=self.clock.now() if now is None else now,
                           nonce=nonce)

    def present(self, credential: str, disclose: tuple[str, ...] = ("city", "district", "age_over_19"), *,
                audience: str = AUDIENCE, nonce: str = "n-0123456789", now: int | None = None) -> str:
        return present_sd_jwt(credential, disclose=disclose, holder_key=self.holder_key, audience=audience,
                              nonce=nonce, now=self.clock.now() if now is None else now)


def verify(client: TestClient, presentation: str, policy: str = "age-over-19", **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/verify", json={"presentation": presentation, "policy": policy, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def qr_png(text: str, scale: int = 6) -> bytes:
    import io

    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def photo_frame(text: str, seed: int = 7) -> bytes:
    """A 1280x720 JPEG that looks like a phone screen photographed at a counter: noise, tilt, blur, glare."""
    import io
    import random

    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    frame = Image.effect_noise((1280, 720), 40).convert("RGB")
    draw = ImageDraw.Draw(frame)
    for _ in range(40):  # clutter: the counter, a hand, paperwork
        x, y = rng.randrange(1280), rng.randrange(720)
        draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(20, 200)),
                       fill=tuple(rng.randrange(60, 200) for _ in range(3)))
    phone = Image.new("RGB", (420, 560), (25, 25, 25))
    qr = Image.open(io.BytesIO(qr_png(text, scale=5))).convert("RGB").resize((360, 360))
    phone.paste(qr, (30, 100))
    phone = phone.rotate(8, expand=True, fillcolor=(90, 80, 70))
    frame.paste(phone, (430, 60))
    glare = Image.new("L", frame.size, 0)
    ImageDraw.Draw(glare).ellipse((500, 80, 760, 260), fill=70)
    white = Image.new("RGB", frame.size, (255, 255, 255))
    frame = Image.composite(white, frame, glare.filter(ImageFilter.GaussianBlur(40)))
    frame = frame.filter(ImageFilter.GaussianBlur(1.1))
    out = io.BytesIO()
    frame.save(out, format="JPEG", quality=85)
    return out.getvalue()
