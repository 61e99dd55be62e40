"""Pydantic models at the HTTP edge only; they convert to and from the service's dataclasses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IssueRequest", "OfferRequest"]


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vct: str = Field(min_length=1, max_length=200)
    claims: dict[str, Any]


class IssueRequest(BaseModel):
    """Direct issuance: ``holder_jwks[0]`` gets the SD-JWT VC, each further key one CP1 copy."""

    model_config = ConfigDict(extra="forbid")

    vct: str = Field(min_length=1, max_length=200)
    claims: dict[str, Any]
    holder_jwks: list[dict[str, Any]] = Field(min_length=1, max_length=101)
