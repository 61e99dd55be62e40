"""JWT VC Issuer Metadata (SD-JWT VC §3.5, "JWT VC Issuer Metadata"): an issuer's keys found from its ``iss``.

An SD-JWT VC whose ``iss`` is an HTTPS URL names where its issuer publishes its keys:
``https://host/.well-known/jwt-vc-issuer/<path of iss>`` answers ``{"issuer": iss, "jwks": {"keys": [...]}}``,
and the header's ``kid`` picks the key. That is the route a verifier we did not write takes.

For civicpass the chain stays the root of trust: a metadata document only ever *names* keys, and
:func:`check_against_chain` refuses it (``issuer_metadata_mismatch``) unless its ``issuer`` is the identifier
the TrustRegistry accredited and every key it lists is a key the chain registered for that issuer. What
verifies is then decided by the chain's keys and validity windows, not by the document. Pure: the caller
fetches the document (``metadata_url``) and hands it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from credcore.errors import CredError, MalformedInputError, RefusedError
from credcore.keys import PublicKey
from credcore.trust import TrustedIssuer, TrustSnapshot

__all__ = [
    "WELL_KNOWN",
    "IssuerMetadata",
    "IssuerMetadataMismatchError",
    "MalformedIssuerMetadataError",
    "check_against_chain",
    "metadata_url",
    "parse_issuer_metadata",
]

WELL_KNOWN: Final = "jwt-vc-issuer"
#: A metadata document listing more keys than this is refused before any key is parsed.
MAX_KEYS: Final = 64


class MalformedIssuerMetadataError(MalformedInputError):
    code = "malformed_issuer_metadata"
    title = "JWT VC Issuer Metadata is malformed"


class IssuerMetadataMismatchError(RefusedError):
    code = "issuer_metadata_mismatch"
    title = "JWT VC Issuer Metadata disagrees with the trust registry"


def metadata_url(iss: str) -> str:
    """Where ``iss`` publishes its metadata: the well-known segment between host and path (RFC 8615)."""
    p = urlsplit(iss)
    if p.scheme not in {"https", "http"} or not p.netloc or p.query or p.fragment:
        raise MalformedIssuerMetadataError("iss is not an HTTPS URL without query or fragment")
    path = p.path.rstrip("/")
    return urlunsplit((p.scheme, p.netloc, f"/.well-known/{WELL_KNOWN}{path}", "", ""))


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    """A parsed metadata document: the issuer and its keys by ``kid``."""

    issuer: str
    keys: Mapping[str, PublicKey]


def parse_issuer_metadata(doc: object, *, expected_issuer: str) -> IssuerMetadata:
    """Check the document's shape and that it speaks for ``expected_issuer`` (the credential's ``iss``).

    Only inline ``jwks`` is read (``jwks_uri`` would be a second fetch outside the chain's view). Every key
    needs a distinct ``kid``; private members are refused.

    Raises:
        MalformedIssuerMetadataError: not such a document, or ``issuer`` is not ``expected_issuer``.
    """
    if not isinstance(doc, Mapping):
        raise MalformedIssuerMetadataError("metadata is not a JSON object")
    if doc.get("issuer") != expected_issuer:  # the metadata section: MUST be identical to iss
        raise MalformedIssuerMetadataError("metadata 'issuer' is not the credential's iss")
    jwks = doc.get("jwks")
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise MalformedIssuerMetadataError("metadata has no inline 'jwks' with keys")
    if len(entries) > MAX_KEYS:
        raise MalformedIssuerMetadataError("metadata lists too many keys")
    keys: dict[str, PublicKey] = {}
    for jwk in entries:
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        if not isinstance(kid, str) or not kid or kid in keys:
            raise MalformedIssuerMetadataError("every metadata key needs its own 'kid'")
        if "d" in jwk:
            raise MalformedIssuerMetadataError("metadata key carries private members")
        try:
            keys[kid] = PublicKey.from_jwk(jwk)
        except CredError as exc:
            raise MalformedIssuerMetadataError(f"metadata key {kid!r} is not acceptable ({exc.code})") from None
    return IssuerMetadata(expected_issuer, keys)


def check_against_chain(metadata: IssuerMetadata, trust: TrustSnapshot) -> TrustedIssuer:
    """The chain's record of the issuer the metadata speaks for, if the two agree; else refused.

    Agreement: the TrustRegistry accredits an issuer under exactly ``metadata.issuer``, and every listed key
    is one the chain registered for that issuer (same key material), listed under its thumbprint, the
    ``kid`` civicpass credentials carry. Keys the chain has and the document omits are not an error (an
    issuer may stop listing keys whose credentials have all expired).

    Raises:
        IssuerMetadataMismatchError: the issuer is not accredited under that identifier, or a listed key is
            not the chain's (unknown, another issuer's, or a ``kid`` naming other key material).
    """
    issuer = trust.issuer(metadata.issuer)
    if issuer is None:
        raise IssuerMetadataMismatchError("no issuer is accredited on chain under this identifier")
    on_chain = {k.thumbprint for k in issuer.keys}
    for kid, key in metadata.keys.items():
        thumbprint = key.thumbprint()
        if thumbprint not in on_chain:
            raise IssuerMetadataMismatchError(f"key {kid!r} is not registered on chain for this issuer")
        if kid != thumbprint:
            raise IssuerMetadataMismatchError(f"key {kid!r} is listed under another key's id")
    return issuer
