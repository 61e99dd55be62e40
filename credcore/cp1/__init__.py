"""Compact QR credentials, ``CP1:``: a CWT signed by the issuer, shown with a holder proof (docs/architecture.md).

Wire format (all CBOR in deterministic encoding, RFC 8949 §4.2; then Base45 after the ``CP1:`` prefix)::

    credential   = 18([ << {1: -7, 4: kid8} >>, {}, << claims >>, issuer_signature ])    ; COSE_Sign1, ES256
    claims       = { 4: exp, 6: iat, 8: holder_key, -1: profile_id, -2: [list_id, index], -3: {key: value} }
    presentation = [ credential (bstr), time_step, nonce / null, holder_signature ]
    holder_signature = ES256 over ["CP1-holder-proof", sha256(credential), time_step, nonce / null]

- ``kid8`` is :func:`credcore.trust.kid8` of the issuer key's RFC 7638 thumbprint. It sits in the protected
  header (same size as unprotected here, and signed). There is no ``iss``: the key identifies the issuer.
- ``exp``/``iat`` are RFC 8392 claims 4/6. Claim 8 (``cnf``, RFC 8747) holds the holder's P-256 key as a
  33-byte SEC1 compressed point rather than a 45-byte COSE_Key map: the byte budget, in a closed format.
- Claims -1..-3 are CP1's own, one CBOR byte each: the profile (:mod:`credcore.profiles`), the status
  list reference (the issuer's list id and index; the list itself comes from the trust snapshot), and the
  profile's claims under the profile's small keys. They are unassigned in the IANA CWT registry's
  standards-action range; a private-use key (< -65536) would cost 5 bytes each, and only civicpass reads
  CP1. The draft Token Status List CWT claim (65535 with a URI) would not fit the budget at all.
- The holder proof signs the credential digest (also the Merkle leaf value), a 30-second time step and
  the verifier's nonce when it gave one. The verifier accepts steps within one of its own and each
  (digest, step, nonce) once: :func:`verify_cp1` asks its replay guard once the pure checks are done, and
  :func:`verify_cp1_deferred` leaves that question to the caller (:mod:`credcore.verification`). No zlib:
  CBOR of this size does not compress.

Budget: at most 300 bytes before Base45, so the QR is version 13-M or lower. :func:`issue_cp1` refuses a
credential over :data:`MAX_CREDENTIAL_BYTES`, which leaves room for the largest holder proof (a 32-char
nonce), so every presentation of an issued credential fits by construction.
"""

from credcore.cp1.codec import (
    FORMAT,
    MAX_CREDENTIAL_BYTES,
    MAX_NONCE_CHARS,
    MAX_PRESENTATION_BYTES,
    MAX_TEXT_CHARS,
    PREFIX,
    TIME_STEP,
    credential_digest,
)
from credcore.cp1.inspection import DecodedCp1, decode_cp1
from credcore.cp1.issue import issue_cp1
from credcore.cp1.present import present_cp1
from credcore.cp1.verify import verify_cp1, verify_cp1_deferred
from credcore.profiles import PROFILES

__all__ = [
    "FORMAT",
    "MAX_CREDENTIAL_BYTES",
    "MAX_NONCE_CHARS",
    "MAX_PRESENTATION_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "PROFILES",
    "TIME_STEP",
    "DecodedCp1",
    "credential_digest",
    "decode_cp1",
    "issue_cp1",
    "present_cp1",
    "verify_cp1",
    "verify_cp1_deferred",
]
