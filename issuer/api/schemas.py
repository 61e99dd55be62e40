"""Pydantic models at the HTTP edge only; they convert to and from the service's dataclasses.

The request models validate bodies; the response models only document them (routes return plain JSON, so
the issuance path pays nothing for them). Examples are real: the OpenAPI test posts them as they stand.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TYPE_EXAMPLE",
    "AnchorOut",
    "AuditOut",
    "CredentialList",
    "CredentialOut",
    "IssueRequest",
    "IssuedOut",
    "KeyList",
    "KeyOut",
    "OfferOut",
    "OfferRequest",
    "TypeList",
]

_RESIDENT = "urn:civicpass:ResidentCredential:1"
_CLAIMS = {"name": "김민지", "birth_date": "2000-03-01", "city": "부산광역시", "district": "해운대구",
           "resident_since": "2019-05-02"}  # fmt: skip
_HOLDER_JWKS = [
    {"kty": "EC", "crv": "P-256", "x": "IJwxe2N5Nd09ocVPY0ld-zH5fSk98IVxAyBZXJqsuD8",
     "y": "3eTGn8F6DHTCDMaSZi8EmJK6N6S6R9LHDNipmYY5H5s"},
    {"kty": "EC", "crv": "P-256", "x": "Qq2XHQN9GrK-384_F_l9utEgXqfMdaBP9YLdylagvzg",
     "y": "H9ul5SQtUc52DyfAPhI3nYNy2cHJz5uqsdVYsRfHuQE"},
]  # fmt: skip
#: A credential type definition as POST /v1/types takes it (the packaged ones are in issuer/types/*.yaml).
TYPE_EXAMPLE: dict[str, Any] = {
    "id": "LibraryCardCredential", "vct": "urn:example:LibraryCardCredential:1", "name": "Library card",
    "validity_days": 365, "disclosable": ["name", "card_number"],
    "schema": {"type": "object", "additionalProperties": False, "required": ["name", "card_number"],
               "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                              "card_number": {"type": "string", "pattern": "^[0-9]{8}$"}}},
}  # fmt: skip


class OfferRequest(BaseModel):
    """An OpenID4VCI credential offer for one resident: the clerk enters the claims once, the wallet redeems."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"vct": _RESIDENT, "claims": _CLAIMS}]})

    vct: str = Field(min_length=1, max_length=200, description="credential type (GET /v1/types)")
    claims: dict[str, Any] = Field(description="claims, checked against the type's schema (derived ones are computed)")


class IssueRequest(BaseModel):
    """Direct issuance: ``holder_jwks[0]`` gets the SD-JWT VC, each further key one CP1 copy."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"vct": _RESIDENT, "claims": _CLAIMS, "holder_jwks": _HOLDER_JWKS}]})

    vct: str = Field(min_length=1, max_length=200, description="credential type (GET /v1/types)")
    claims: dict[str, Any] = Field(description="claims, checked against the type's schema (derived ones are computed)")
    holder_jwks: list[dict[str, Any]] = Field(
        min_length=1, max_length=101,
        description="distinct public P-256 JWKs of the holder: the first for the SD-JWT VC, one per CP1 copy after it")


class OfferOut(BaseModel):
    offer_id: str
    credential_offer_uri: str = Field(description="openid-credential-offer:// link, also in the QR code")
    credential_offer: dict[str, Any] = Field(description="the offer object (OpenID4VCI 1.0 §4.1.1)")
    tx_code: str = Field(description="the PIN the clerk reads out to the resident")
    expires_at: int
    qr_png_base64: str


class IssuedItem(BaseModel):
    format: Literal["dc+sd-jwt", "civicpass-cp1"]
    credential: str = Field(description="SD-JWT VC compact form, or base64url COSE_Sign1 for a CP1 copy")


class IssuedOut(BaseModel):
    id: str
    credentials: list[IssuedItem]


class CredentialOut(BaseModel):
    id: str
    vct: str
    iat: int
    exp: int
    status: Literal["valid", "revoked", "suspended"]
    created_at: int
    created_by: str
    kid: str
    copies: int = Field(description="signed artefacts that share this credential's status, so a revocation covers "
                        "them all: its SD-JWT VCs and CP1 copies, refreshed ones included")


class CredentialList(BaseModel):
    credentials: list[CredentialOut]


class AnchorOut(BaseModel):
    credential_id: str
    items: list[dict[str, Any]] = Field(description="per signed artefact: digest, state, and when anchored root, "
                                                    "block and Merkle proof")


class KeyOut(BaseModel):
    kid: str
    jwk: dict[str, str]
    valid_from: int
    valid_until: int | None
    active: bool
    on_chain: bool


class KeyList(BaseModel):
    keys: list[KeyOut]


class TypeList(BaseModel):
    types: list[dict[str, Any]]


class AuditOut(BaseModel):
    verified_events: int = Field(description="events whose hash chain verified from the first one")
    events: list[dict[str, Any]]
