"""``civicpass governance``: the consortium's k-of-n approval of trust-registry changes, from the command line.

The flow is a file passed between members: ``propose`` reads the consortium from the chain (nonce, members,
threshold) and writes a proposal file; each member runs ``sign`` offline with their BLS key file (the digest is
recomputed from the proposal's fields and the decoded action shown, never taken from the file); anyone then runs
``submit``, which checks the shares off chain, aggregates them and sends one transaction. ``members`` lists the
consortium; ``keygen`` makes a member key (public key + proof of possession to hand to the consortium).

Exit codes: 0 done; 1 refused (not enough valid signatures, stale proposal, revert); 2 bad input or usage;
3 the chain could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from credcore import bls
from credcore.errors import CredError, InfrastructureError, MalformedInputError

_FORMAT = "civicpass-governance-proposal-v1"
_DEFAULT_DEPLOYMENT = Path(".civicpass/deployment.json")
_ACTIONS = {
    "accredit": (bls.Action.ACCREDIT_ISSUER, "ACCOUNT IDENTIFIER NAME TYPE..."),
    "suspend": (bls.Action.SUSPEND_ISSUER, "ACCOUNT"),
    "add-member": (bls.Action.ADD_MEMBER, "PUBLIC_KEY_HEX POP_HEX"),
    "remove-member": (bls.Action.REMOVE_MEMBER, "PUBLIC_KEY_HEX"),
    "threshold": (bls.Action.SET_THRESHOLD, "K"),
    "transfer-admin": (bls.Action.TRANSFER_REGISTRY_ADMIN, "NEW_ADMIN"),
}


def register(sub: Any) -> None:
    chain = argparse.ArgumentParser(add_help=False)
    chain.add_argument("--governance", required=True, metavar="ADDRESS", help="the TrustGovernance contract")
    chain.add_argument("--rpc-url", help=f"JSON-RPC endpoint (default: the one in {_DEFAULT_DEPLOYMENT})")
    g = sub.add_parser("governance", help="consortium approval of trust-registry changes (BLS k-of-n)")
    gs = g.add_subparsers(dest="governance_command", required=True, metavar="ACTION")
    p = gs.add_parser("keygen", help="make a member BLS key file; prints the public key and proof of possession")
    p.add_argument("--out", required=True, type=Path, help="key file to create (mode 0600; refuses to overwrite)")
    p.set_defaults(func=_guard(run_keygen))
    p = gs.add_parser("members", parents=[chain], help="list the consortium: members, threshold, next nonce")
    p.set_defaults(func=_guard(run_members))
    p = gs.add_parser("propose", parents=[chain], help="write a proposal file for members to sign")
    p.add_argument("action", choices=sorted(_ACTIONS), help="; ".join(f"{k} {v[1]}" for k, v in _ACTIONS.items()))
    p.add_argument("args", nargs="*", help="the action's arguments")
    p.add_argument("--out", required=True, type=Path, help="proposal file to write")
    p.set_defaults(func=_guard(run_propose))
    p = gs.add_parser("sign", help="add your signature to a proposal file (offline)")
    p.add_argument("proposal", type=Path)
    p.add_argument("--key", required=True, type=Path, help="your member key file (from keygen)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_guard(run_sign))
    p = gs.add_parser("submit", parents=[chain], help="aggregate the signatures and send the proposal on chain")
    p.add_argument("proposal", type=Path)
    p.add_argument("--sender-key-file", required=True, type=Path, help="hex private key of the paying account")
    p.set_defaults(func=_guard(run_submit))


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except InfrastructureError as exc:
            print(f"civicpass governance: {exc}", file=sys.stderr)
            return 3
        except (MalformedInputError, OSError, ValueError, KeyError) as exc:
            print(f"civicpass governance: {exc}", file=sys.stderr)
            return 2
        except CredError as exc:
            print(f"civicpass governance: {exc}", file=sys.stderr)
            return 1

    return run


# --- files ---------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MalformedInputError(f"{path} is not JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{path} is not a JSON object")
    return doc


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _proposal_of(doc: dict[str, Any]) -> tuple[bls.Proposal, bytes]:
    """The proposal and the digest to sign, recomputed from the binding fields."""
    if doc.get("format") != _FORMAT:
        raise MalformedInputError("not a civicpass governance proposal file")
    proposal = bls.Proposal(bls.Action[doc["action"]], bytes.fromhex(doc["payload"]))
    proposal.arguments()  # refuse a payload that does not decode
    digest = bls.proposal_digest(proposal, chain_id=int(doc["chain_id"]), governance=doc["governance"],
                                 nonce=int(doc["nonce"]))
    return proposal, digest


def _describe(proposal: bls.Proposal) -> str:
    args = [a.hex() if isinstance(a, bytes) else a for a in proposal.arguments()]
    return f"{proposal.action.name} {json.dumps(args, default=list)}"


# --- chain ---------------------------------------------------------------------------------------------------
def _governance(args: argparse.Namespace) -> Any:
    from web3 import Web3

    from contracts import Deployment
    from contracts.governance import TrustGovernance

    url = args.rpc_url
    if url is None and _DEFAULT_DEPLOYMENT.is_file():
        url = Deployment.load(_DEFAULT_DEPLOYMENT).rpc_url
    if not url:
        raise MalformedInputError(f"no --rpc-url and no rpc_url in {_DEFAULT_DEPLOYMENT}")
    return TrustGovernance(Web3(Web3.HTTPProvider(url)), args.governance)


# --- commands ------------------------------------------------------------------------------------------------
def run_keygen(args: argparse.Namespace) -> int:
    sk = bls.keygen(secrets.token_bytes(32))
    pk, pop = bls.public_key(sk), bls.prove_possession(sk)
    doc = {"secret_key": f"{sk:064x}", "public_key": pk.hex(), "proof_of_possession": pop.hex()}
    _write_private(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"public key           {pk.hex()}\nproof of possession  {pop.hex()}")
    return 0


def run_members(args: argparse.Namespace) -> int:
    state = _governance(args).state()
    print(f"governance {state.address} on chain {state.chain_id}: {state.threshold} of {len(state.members)}, "
          f"next nonce {state.nonce}")
    for i, pk in enumerate(state.members):
        print(f"  [{i}] {pk.hex()}")
    return 0


def run_propose(args: argparse.Namespace) -> int:
    action, usage = _ACTIONS[args.action]
    values: list[Any] = list(args.args)
    try:
        if action is bls.Action.ADD_MEMBER:
            public_key, pop = values
            proposal = bls.Proposal.add_member(bytes.fromhex(public_key), bytes.fromhex(pop))
        elif action is bls.Action.REMOVE_MEMBER:
            (public_key,) = values
            proposal = bls.Proposal.remove_member(bytes.fromhex(public_key))
        elif action is bls.Action.ACCREDIT_ISSUER:
            account, identifier, name, *types = values
            proposal = bls.Proposal.of(action, account, identifier, name, types)
        elif action is bls.Action.SET_THRESHOLD:
            (k,) = values
            proposal = bls.Proposal.of(action, int(k))
        else:
            (address,) = values
            proposal = bls.Proposal.of(action, address)
    except ValueError as exc:
        raise MalformedInputError(f"usage: propose {args.action} {usage}") from exc
    state = _governance(args).state()
    doc = {
        "format": _FORMAT, "chain_id": state.chain_id, "governance": state.address, "nonce": state.nonce,
        "action": action.name, "payload": proposal.payload.hex(), "summary": _describe(proposal),
        "members": [pk.hex() for pk in state.members], "threshold": state.threshold, "signatures": {},
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"proposal {state.nonce} written to {args.out}: {_describe(proposal)}; needs {state.threshold} signatures")
    return 0


def run_sign(args: argparse.Namespace) -> int:
    doc = _read_json(args.proposal)
    proposal, digest = _proposal_of(doc)
    key = _read_json(args.key)
    sk = int(key["secret_key"], 16)
    pk = bls.public_key(sk)
    members = [bytes.fromhex(m) for m in doc["members"]]
    if pk not in members:
        raise bls.QuorumNotMetError("this key is not one of the proposal's members")
    print(f"chain {doc['chain_id']}, governance {doc['governance']}, nonce {doc['nonce']}:\n  {_describe(proposal)}")
    if not args.yes and input("sign? [y/N] ").strip().lower() != "y":
        return 1
    doc["signatures"][str(members.index(pk))] = bls.sign(sk, digest).hex()
    args.proposal.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"signed as member {members.index(pk)}; {len(doc['signatures'])} of {doc['threshold']} signatures")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from contracts import Signer

    doc = _read_json(args.proposal)
    proposal, digest = _proposal_of(doc)
    gov = _governance(args)
    state = gov.state()
    if (state.chain_id, state.address.lower()) != (int(doc["chain_id"]), str(doc["governance"]).lower()):
        raise MalformedInputError("the proposal is for another chain or governance contract")
    if [pk.hex() for pk in state.members] != doc["members"]:
        raise bls.QuorumNotMetError("the consortium changed since this proposal was written; propose again")
    shares = {int(i): bytes.fromhex(s) for i, s in doc["signatures"].items()}
    good = sorted(i for i, s in shares.items() if 0 <= i < len(state.members) and _valid(state.members[i], digest, s))
    if len(good) < state.threshold:
        raise bls.QuorumNotMetError(f"{len(good)} valid signatures, {state.threshold} needed")
    sender = Signer(gov.w3, args.sender_key_file.read_text(encoding="utf-8").strip())
    rx = gov.execute(proposal, nonce=int(doc["nonce"]), signers=bls.signer_bitmap(good),
                     signature=bls.aggregate([shares[i] for i in good]), sender=sender).wait()
    print(f"executed proposal {doc['nonce']} in block {rx.block_number} (tx 0x{rx.tx_hash.hex()}, gas {rx.gas_used})")
    return 0


def _valid(pk: bytes, digest: bytes, share: bytes) -> bool:
    try:
        return bls.verify(pk, digest, share)
    except CredError:
        return False
