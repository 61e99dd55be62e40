"""Pydantic models for the HTTP edge only; the service speaks dataclasses.

Bounds on every string keep a hostile body from costing more than the size limit already allows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CheckOut", "PresentationRequestIn", "PresentationRequestOut", "TrustOut", "VerifyIn", "VerifyOut"]


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presentation: str = Field(max_length=60_000, description="SD-JWT VC presentation or CP1: text")
    policy: str = Field(max_length=64, description="policy name, e.g. resident-basic")
    nonce: str | None = Field(default=None, max_length=256)
    audience: str | None = Field(default=None, max_length=512)
    received_programmes: list[str] = Field(default_factory=list, max_length=64,
                                           description="programmes the caller knows the holder already received")


class CheckOut(BaseModel):
    check: str
    passed: bool
    code: str | None


class TrustOut(BaseModel):
    block: int | None
    age_seconds: int | None
    stale: bool
    max_age_seconds: int


class VerifyOut(BaseModel):
    verified: bool
    code: str | None
    checks: list[CheckOut]
    claims: dict[str, Any] = Field(description="the verified claims; bytes (CP1's business_number_digest) in hex")
    format: str
    credential_type: str | None
    issuer: str | None
    policy: dict[str, Any]
    trust: TrustOut
    checked_at: int


class PresentationRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = Field(max_length=64)
    response_mode: Literal["direct_post", "direct_post.jwt"] = Field(
        "direct_post", description="`direct_post.jwt`: the wallet encrypts its answer to a key made for this request")
    request_uri_method: Literal["get", "post"] = Field(
        "get", description="`post`: the wallet POSTs wallet_metadata and wallet_nonce to fetch the request object")


class PresentationRequestOut(BaseModel):
    id: str
    uri: str
    request_uri: str
    qr_png: str = Field(description="data: URL of the QR code for `uri`")
    expires_at: int
    status: str

