"""DCQL (OpenID4VP 1.0 §6): read a verifier's query and match it against the SD-JWT VCs in the wallet.

Pure functions, so the consent screen can show exactly what is asked before anything leaves the device.
Supported: credential queries of format ``dc+sd-jwt`` with ``meta.vct_values`` (§B.3.5), claims queries
with ``path`` and optional ``values`` (§6.3, §7), ``claim_sets`` (the first satisfiable option is chosen,
§6.4.1), and ``credential_sets`` (§6.2: for each required set, the first option the wallet can fill).
A query without ``claims`` asks for no selectively disclosable claim (§6.4.1): only what is always
visible is shown. Other formats are understood well enough to say "this wallet holds none".

A DCQL path element is a claim name (string), an array index (integer) or ``null`` for every array
element; it becomes a credcore disclosure path (``"address/street"``), ``null`` meaning the whole array.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from wallet_sdk.errors import PresentationRequestError

__all__ = ["ClaimQuery", "CredentialQuery", "DcqlQuery", "Held", "Match", "lookup", "parse_dcql", "select"]

SD_JWT: Final = "dc+sd-jwt"
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_ITEMS: Final = 64


def _bad(detail: str) -> PresentationRequestError:
    return PresentationRequestError(f"dcql_query: {detail}")


@dataclass(frozen=True, slots=True)
class ClaimQuery:
    path: tuple[str | int | None, ...]
    values: tuple[Any, ...] | None = None
    id: str | None = None

    @property
    def disclosure_path(self) -> str:
        """The credcore path disclosing this claim (``null`` and everything after it: the whole array)."""
        parts: list[str] = []
        for element in self.path:
            if element is None:
                break
            parts.append(str(element))
        return "/".join(parts)

    @property
    def label(self) -> str:
        return ".".join("[*]" if e is None else str(e) for e in self.path)


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    format: str
    vct_values: tuple[str, ...]
    claims: tuple[ClaimQuery, ...] | None
    claim_sets: tuple[tuple[str, ...], ...] | None = None
    multiple: bool = False


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[tuple[tuple[str, ...], ...], ...] | None = None  # required sets only


def _claim(obj: object) -> ClaimQuery:
    if not isinstance(obj, dict):
        raise _bad("a claims query is not an object")
    path = obj.get("path")
    if not isinstance(path, list) or not path or len(path) > 16:
        raise _bad("a claims query needs a non-empty path")
    for e in path:
        if not (e is None or isinstance(e, str) or (isinstance(e, int) and not isinstance(e, bool) and e >= 0)):
            raise _bad("path elements are names, non-negative indices or null")
        if isinstance(e, str) and ("/" in e or not e):
            raise _bad("claim names in a path must be non-empty and without '/'")
    values = obj.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise _bad("'values' must be a non-empty array")
    cid = obj.get("id")
    if cid is not None and (not isinstance(cid, str) or not _ID.fullmatch(cid)):
        raise _bad("a claims query id is malformed")
    return ClaimQuery(tuple(path), tuple(values) if values is not None else None, cid)


def _credential(obj: object) -> CredentialQuery:
    if not isinstance(obj, dict):
        raise _bad("a credential query is not an object")
    qid, fmt = obj.get("id"), obj.get("format")
    if not isinstance(qid, str) or not _ID.fullmatch(qid) or not isinstance(fmt, str):
        raise _bad("a credential query needs an id and a format")
    meta = obj.get("meta") or {}
    vcts = meta.get("vct_values", []) if isinstance(meta, dict) else None
    if not isinstance(vcts, list) or not all(isinstance(v, str) for v in vcts):
        raise _bad("meta.vct_values must be an array of strings")
    raw_claims = obj.get("claims")
    claims = None
    if raw_claims is not None:
        if not isinstance(raw_claims, list) or not raw_claims or len(raw_claims) > _MAX_ITEMS:
            raise _bad("'claims' must be a non-empty array")
        claims = tuple(_claim(c) for c in raw_claims)
    sets = obj.get("claim_sets")
    claim_sets = None
    if sets is not None:
        ids = {c.id for c in claims or () if c.id}
        if not isinstance(sets, list) or not sets or not all(isinstance(s, list) and set(s) <= ids for s in sets):
            raise _bad("'claim_sets' must list ids of this query's claims")
        claim_sets = tuple(tuple(s) for s in sets)
    return CredentialQuery(qid, fmt, tuple(vcts), claims, claim_sets, obj.get("multiple") is True)


def parse_dcql(obj: object) -> DcqlQuery:
    """Validate a ``dcql_query`` object. Raises :class:`PresentationRequestError`."""
    if not isinstance(obj, dict):
        raise _bad("missing or not an object")
    creds = obj.get("credentials")
    if not isinstance(creds, list) or not creds or len(creds) > _MAX_ITEMS:
        raise _bad("'credentials' must be a non-empty array")
    queries = tuple(_credential(c) for c in creds)
    ids = [q.id for q in queries]
    if len(set(ids)) != len(ids):
        raise _bad("credential query ids repeat")
    raw_sets = obj.get("credential_sets")
    sets = None
    if raw_sets is not None:
        if not isinstance(raw_sets, list) or not raw_sets:
            raise _bad("'credential_sets' must be a non-empty array")
        sets_list = []
        for s in raw_sets:
            options = s.get("options") if isinstance(s, dict) else None
            if not isinstance(options, list) or not all(isinstance(o, list) and set(o) <= set(ids) for o in options):
                raise _bad("credential_sets options must list credential query ids")
            if s.get("required", True) is not False:
                sets_list.append(tuple(tuple(o) for o in options))
        sets = tuple(sets_list)
    return DcqlQuery(queries, sets)


@dataclass(frozen=True, slots=True)
class Held:
    """One SD-JWT VC the wallet could answer with: its id, type and claims (fully disclosed, holder side)."""

    credential_id: str
    vct: str
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Match:
    """The answer the wallet proposes for one credential query: which credential, which paths disclosed."""

    query_id: str
    credential_id: str
    disclose: tuple[str, ...]  # credcore paths, exactly the claims asked for
    asked: tuple[str, ...]  # the claims as the verifier named them (for the consent screen)


def lookup(claims: Mapping[str, Any], path: Sequence[str | int | None]) -> tuple[bool, list[Any]]:
    """(found, values at the path); ``null`` fans out over an array (§7.1)."""
    current: list[Any] = [claims]
    for element in path:
        nxt: list[Any] = []
        for value in current:
            if element is None and isinstance(value, list):
                nxt.extend(value)
            elif isinstance(value, dict) and isinstance(element, str) and element in value:
                nxt.append(value[element])
            elif isinstance(value, list) and _index(element) < len(value):
                nxt.append(value[_index(element)])
        if not nxt:
            return False, []
        current = nxt
    return True, current


def _index(element: str | int | None) -> int:
    """An array index from a DCQL element or a credcore path segment ("0"); a huge value when it is none."""
    if isinstance(element, int) and not isinstance(element, bool):
        return element
    return int(element) if isinstance(element, str) and element.isdigit() else 1 << 62


def _satisfies(held: Held, claim: ClaimQuery) -> bool:
    found, values = lookup(held.claims, claim.path)
    return found and (claim.values is None or any(v in claim.values for v in values))


def _match_one(query: CredentialQuery, wallet: Sequence[Held]) -> Match | None:
    if query.format != SD_JWT:
        return None
    for held in wallet:
        if query.vct_values and held.vct not in query.vct_values:
            continue
        claims = query.claims or ()
        if query.claim_sets is not None:
            by_id = {c.id: c for c in claims}
            option = next((s for s in query.claim_sets if all(_satisfies(held, by_id[i]) for i in s)), None)
            if option is None:
                continue
            claims = tuple(by_id[i] for i in option)
        elif not all(_satisfies(held, c) for c in claims):
            continue
        paths = tuple(dict.fromkeys(c.disclosure_path for c in claims))
        return Match(query.id, held.credential_id, paths, tuple(c.label for c in claims))
    return None


def select(query: DcqlQuery, wallet: Sequence[Held]) -> tuple[dict[str, Match], tuple[str, ...]]:
    """Propose an answer: matches by query id, and the ids of required queries the wallet cannot answer.

    Without ``credential_sets`` every credential query is required (§6.4.2).
    """
    found = {q.id: m for q in query.credentials if (m := _match_one(q, wallet)) is not None}
    if query.credential_sets is None:
        missing = tuple(q.id for q in query.credentials if q.id not in found)
        return found, missing
    chosen: dict[str, Match] = {}
    missing_ids: list[str] = []
    for options in query.credential_sets:
        option = next((o for o in options if all(i in found for i in o)), None)
        if option is None:
            missing_ids.extend(i for i in options[0] if i not in found)
            continue
        chosen.update({i: found[i] for i in option})
    return chosen, tuple(dict.fromkeys(missing_ids))
