"""Read-only views of ``civicpass governance``: what the trust registry holds, and which proposals wait.

The registry view is built from the registries' events (the same :class:`contracts.TrustSync` the verifier
uses), so it shows exactly what verifiers will believe; the admin is read from the TrustRegistry itself.
Proposals are files passed between members (nothing is pending on chain until one is submitted), so the
proposals view reads the files and rates each against the chain: its nonce, its member list, its signatures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credcore.errors import CredError


def _when(t: int | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def registry_doc(w3: Any, deployment: Any, progress: Callable[[str], None]) -> dict[str, Any]:
    from contracts import TrustRegistry, TrustSync
    from contracts.governance import TrustGovernance

    trust = TrustRegistry(w3, deployment.trust_registry)
    admin = trust.admin()
    governed = deployment.governance is not None and admin == deployment.governance
    sync = TrustSync(w3, deployment)
    head = sync.head()
    progress(f"reading the registries' events from block {deployment.from_block} to {head} ...")

    def ranges(first: int, done: int, last: int) -> None:  # a long chain is read in block ranges
        if done < last:
            progress(f"  block {done} of {last}")

    snapshot = sync.sync(to_block=head, progress=ranges).snapshot(now=0)
    doc: dict[str, Any] = {"trust_registry": trust.address, "chain_id": deployment.chain_id, "block": head,
                           "admin": {"address": admin, "kind": "account"}, "issuers": []}
    if governed:
        state = TrustGovernance(w3, admin).state()
        doc["admin"] = {"address": admin, "kind": "TrustGovernance", "threshold": state.threshold,
                        "members": len(state.members), "next_nonce": state.nonce}
    for issuer in sorted(snapshot.issuers, key=lambda i: i.name):
        record = trust.issuer(issuer.account) if issuer.account else None
        doc["issuers"].append({
            "name": issuer.name, "identifier": issuer.issuer_id, "account": issuer.account,
            "accredited_at": record.accredited_at if record else None, "suspended_at": issuer.suspended_at,
            "credential_types": sorted(issuer.credential_types),
            "keys": [{"kid": k.thumbprint, "valid_from": k.valid_from, "valid_until": k.valid_until,
                      "revoked_at": k.revoked_at} for k in sorted(issuer.keys, key=lambda k: k.valid_from)],
        })
    return doc


def show_registry(w3: Any, deployment: Any, *, as_json: bool, progress: Callable[[str], None]) -> None:
    doc = registry_doc(w3, deployment, progress)
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    admin = doc["admin"]
    who = (f"TrustGovernance {admin['address']} ({admin['threshold']} of {admin['members']} members sign each "
           f"change; next proposal nonce {admin['next_nonce']})" if admin["kind"] == "TrustGovernance"
           else f"{admin['address']} (one account, not a consortium)")
    lines = [f"TrustRegistry {doc['trust_registry']} on chain {doc['chain_id']}, as of block {doc['block']}",
             f"  admin   {who}", f"{len(doc['issuers'])} accredited issuer(s){':' if doc['issuers'] else ''}"]
    for i in doc["issuers"]:
        standing = f"SUSPENDED since {_when(i['suspended_at'])}" if i["suspended_at"] else "active"
        lines += [f"  {i['name']}  ({standing})", f"    identifier  {i['identifier']}",
                  f"    account     {i['account']}, accredited {_when(i['accredited_at'])}",
                  f"    types       {', '.join(i['credential_types']) or '(none)'}"]
        for k in i["keys"]:
            window = f"valid from {_when(k['valid_from'])}" + (
                f" until {_when(k['valid_until'])}" if k["valid_until"] else ", no end date")
            if k["revoked_at"]:
                window += f", REVOKED from {_when(k['revoked_at'])}"
            lines.append(f"    key {k['kid']}  {window}")
        if not i["keys"]:
            lines.append("    no signing key registered yet")
    print("\n".join(lines))


def _files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(p.glob("*.json"))
        elif p.exists():
            found.append(p)
    return found


def rate(doc: dict[str, Any], state: Any) -> dict[str, Any]:
    """One proposal file against the chain now: where it stands and what it needs."""
    from civicpass._governance_common import check_shares, describe, proposal_of

    proposal, digest = proposal_of(doc)
    good, bad = check_shares(doc, digest)
    nonce, threshold = int(doc["nonce"]), int(doc["threshold"])
    if (int(doc["chain_id"]), str(doc["governance"]).lower()) != (state.chain_id, state.address.lower()):
        status = "other-consortium"
    elif nonce < state.nonce:
        status = "done-or-superseded"
    elif nonce > state.nonce:
        status = "not-due"
    elif doc["members"] != [pk.hex() for pk in state.members]:
        status = "stale-members"
    elif bad:
        status = "altered"
    else:
        status = "ready" if len(good) >= state.threshold else "pending"
    return {"nonce": nonce, "action": describe(proposal), "signed": good, "mismatched": bad,
            "threshold": threshold, "status": status}


_SAY = {
    "ready": "ready: enough signatures, submit it",
    "pending": "waiting for signatures",
    "altered": "ALTERED after signing: do not sign or submit",
    "stale-members": "stale: the consortium changed; propose again",
    "not-due": "not due yet (an earlier proposal comes first)",
    "done-or-superseded": "done, or superseded by another proposal with its nonce",
    "other-consortium": "for another chain or consortium",
}


def show_proposals(state: Any, paths: Sequence[Path], *, show_all: bool, as_json: bool) -> None:
    rows = []
    for path in _files(paths):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            row = {"file": str(path), **rate(doc, state)}
        except (CredError, ValueError, KeyError, TypeError):
            continue  # not a proposal file
        if show_all or row["status"] in {"ready", "pending", "altered", "not-due"}:
            rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print(f"governance {state.address}: {state.threshold} of {len(state.members)}, next nonce {state.nonce}; "
          f"{len(rows)} proposal(s){'' if show_all else ' waiting'}")
    for r in rows:
        print(f"  {r['file']}\n    nonce {r['nonce']}: {r['action']}\n    {_SAY[r['status']]}; signed by member(s) "
              f"{', '.join(map(str, r['signed'])) or 'none'} ({len(r['signed'])} of {r['threshold']})")
