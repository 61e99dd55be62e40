"""What the ``civicpass governance`` commands share: their refusals with hints, progress, files and the chain.

Refusals carry a stable code (the chain's own are in contracts/errors.py) and :data:`HINTS` says, per code, what
to do about it. Progress goes to stderr, so stdout keeps only results and ``--json`` stays parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civicpass import _governance_keys as keys
from credcore.errors import ConflictError, CredError, MalformedInputError, RefusedError

if TYPE_CHECKING:
    from credcore import bls

PROPOSAL_FORMAT = "civicpass-governance-proposal-v1"
_WAIT_S = 180.0  # inclusion on a consortium chain with slow blocks; progress is shown meanwhile


# --- refusals of the command line (the chain's own are in contracts/errors.py) --------------------------------
class NotAMemberError(RefusedError):
    code = "governance_not_a_member"
    title = "This key is not a member of the consortium"


class SignatureMismatchError(RefusedError):
    code = "governance_signature_mismatch"
    title = "Signatures in the proposal file do not match the proposal as written"


class ConsortiumChangedError(ConflictError):
    code = "governance_consortium_changed"
    title = "The consortium's members changed since the proposal was written"


class AccountUnfundedError(RefusedError):
    code = "governance_account_unfunded"
    title = "The paying account has no ether for gas"


class NotRegistryAdminError(RefusedError):
    code = "governance_not_registry_admin"
    title = "The paying account is not the TrustRegistry's admin"


class AlreadyInitialisedError(ConflictError):
    code = "governance_already_initialised"
    title = "The TrustRegistry is already governed by a consortium"


class NoGovernanceError(MalformedInputError):
    code = "governance_not_set_up"
    title = "No TrustGovernance contract is known"


HINTS = {
    "governance_not_a_member": "sign with your own member key file (--key). If you are joining, the consortium adds "
    "you first: a member runs `civicpass governance propose add-member` with the card `keygen` printed for you.",
    "governance_signature_mismatch": "do not sign or submit this file: get the original proposal from its author, or "
    "write a new one with `civicpass governance propose` and collect the signatures again.",
    "governance_too_few_signers": "ask more members to run `civicpass governance sign PROPOSAL --key THEIR_KEY_FILE`, "
    "then submit again; `civicpass governance proposals` shows who signed.",
    "governance_stale_nonce": "nothing was sent. To make this change (again), write a new proposal with "
    "`civicpass governance propose` and collect the signatures for it.",
    "governance_consortium_changed": "write a new proposal with `civicpass governance propose` (it will name the "
    "current members) and collect the signatures again.",
    "governance_not_registry_admin": "pay with the admin's keystore (--account FILE), or on a dev chain "
    "--dev-account admin; `civicpass governance registry` shows who the admin is.",
    "governance_already_initialised": "change members or the threshold by proposal: `civicpass governance propose "
    "add-member|remove-member|threshold`.",
    "governance_not_set_up": "set a consortium up with `civicpass governance init --members ... --threshold K`, or "
    "name one with --governance ADDRESS.",
    "governance_wrong_passphrase": "try again with the passphrase chosen when the file was made (--passphrase-file "
    "for a member key, --account-passphrase-file for a keystore, or the CIVICPASS_GOVERNANCE_PASSPHRASE / "
    "CIVICPASS_GOVERNANCE_ACCOUNT_PASSPHRASE variables).",
    "governance_passphrases_differ": "run the command again and type the same passphrase twice.",
    "governance_passphrase_empty": "choose a passphrase that is not empty (a passphrase file holds it on its "
    "first line).",
    "governance_passphrase_missing": "put the passphrase in a file and pass it with the option named above, or set "
    "the variable named there; without a terminal the command cannot ask for it.",
    "governance_account_unfunded": "fund the account with ether for gas, or pay with another --account; on a dev "
    "chain started by `civicpass up` or `civicpass chain up`, pay with --dev-account admin.",
    "governance_signature_invalid": "a signer's share does not verify on chain: collect the signatures again.",
    "governance_pop_invalid": "the member's proof of possession is wrong: ask them for the card `keygen` printed.",
    "governance_threshold_invalid": "the threshold must be at least 1 and at most the number of members.",
    "registry_not_authorized": "the registry's admin is not this consortium's contract: see "
    "`civicpass governance registry`.",
    "chain_unavailable": "check that the chain's JSON-RPC endpoint is up (--rpc-url, or rpcUrl in the deployment "
    "file) and try again.",
}


def say(line: str) -> None:
    """Progress goes to stderr, so stdout keeps only results (and --json stays parseable)."""
    print(f"civicpass governance: {line}", file=sys.stderr, flush=True)


def await_tx(pending: Any, what: str) -> Any:
    """Wait for inclusion, saying what is awaited and, every few seconds, for how long."""
    say(f"{what}: sent 0x{pending.tx_hash.hex()}; waiting for inclusion in a block ...")
    started, done = time.monotonic(), threading.Event()

    def tick() -> None:
        while not done.wait(5.0):
            say(f"  still waiting for {what} ({time.monotonic() - started:.0f} s)")

    threading.Thread(target=tick, daemon=True).start()
    try:
        rx = pending.wait(timeout=_WAIT_S)
    finally:
        done.set()
    say(f"{what}: included in block {rx.block_number} (gas {rx.gas_used})")
    return rx


# --- files ---------------------------------------------------------------------------------------------------
def write_doc(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def proposal_of(doc: dict[str, Any]) -> tuple[bls.Proposal, bytes]:
    """The proposal and the digest to sign, recomputed from the binding fields."""
    from credcore import bls

    if doc.get("format") != PROPOSAL_FORMAT:
        raise MalformedInputError("not a civicpass governance proposal file")
    try:
        proposal = bls.Proposal(bls.Action[doc["action"]], bytes.fromhex(doc["payload"]))
        proposal.arguments()  # refuse a payload that does not decode
        digest = bls.proposal_digest(proposal, chain_id=int(doc["chain_id"]), governance=doc["governance"],
                                     nonce=int(doc["nonce"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedInputError("the proposal file lacks a field or has one malformed") from exc
    return proposal, digest


def describe(proposal: bls.Proposal) -> str:
    args = [a.hex() if isinstance(a, bytes) else a for a in proposal.arguments()]
    return f"{proposal.action.name} {json.dumps(args, default=list, ensure_ascii=False)}"


def check_shares(doc: dict[str, Any], digest: bytes) -> tuple[list[int], list[int]]:
    """(members whose share verifies, members whose share does not) against the proposal's member list."""
    members = [bytes.fromhex(m) for m in doc["members"]]
    good, bad = [], []
    for index, share in sorted((int(i), s) for i, s in doc.get("signatures", {}).items()):
        ok = 0 <= index < len(members) and _valid(members[index], digest, share)
        (good if ok else bad).append(index)
    return good, bad


def _valid(pk: bytes, digest: bytes, share: str) -> bool:
    from credcore import bls

    try:
        return bls.verify(pk, digest, bytes.fromhex(share))
    except (CredError, ValueError):
        return False


def mismatch(bad: Sequence[int]) -> SignatureMismatchError:
    who = ", ".join(str(i) for i in bad)
    return SignatureMismatchError(
        f"the signature of member {who} does not match this proposal as written: the file was changed after they "
        "signed (or they signed another proposal)", members=list(bad))


# --- chain ---------------------------------------------------------------------------------------------------
def deployment_of(args: argparse.Namespace, *, required: bool) -> Any:
    from contracts import Deployment

    if args.deployment.is_file():
        return Deployment.load(args.deployment)
    if required:
        raise MalformedInputError(f"no deployment file at {args.deployment}: start the chain (`civicpass up` or "
                                  "`civicpass chain up`) or pass --deployment FILE")
    return None


def web3_of(args: argparse.Namespace, deployment: Any, *, timeout: float = 30) -> Any:
    from web3 import Web3

    url = args.rpc_url or (deployment.rpc_url if deployment is not None else None)
    if not url:
        raise MalformedInputError(f"no --rpc-url and no rpcUrl in {args.deployment}")
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))


def governance_of(args: argparse.Namespace) -> Any:
    from contracts.governance import TrustGovernance

    deployment = deployment_of(args, required=args.governance is None)
    address = args.governance or deployment.governance
    if address is None:
        raise NoGovernanceError(f"{args.deployment} names no TrustGovernance contract")
    return TrustGovernance(web3_of(args, deployment), address)


def payer_of(args: argparse.Namespace, w3: Any, deployment: Any) -> Any:
    from contracts import Signer

    if args.account is not None:
        secret = keys.passphrase(args.account_passphrase_file, env=keys.ACCOUNT_PASSPHRASE_ENV,
                                 what=f"the account keystore {args.account}")
        return _funded(w3, Signer(w3, keys.open_account(args.account, secret)))
    if args.dev_account:
        return _funded(w3, Signer(w3, dev_key(args, deployment)))
    raise MalformedInputError("no paying account: pass --account KEYSTORE (make one with `civicpass governance "
                              "account --out FILE`) or, on a dev chain, --dev-account ROLE")


def _funded(w3: Any, payer: Any) -> Any:
    """The payer, unless it has nothing to pay gas with: a new keystore's account is empty, and the node's
    refusal of its transaction says only that it was rejected."""
    if int(w3.eth.get_balance(payer.address)) == 0:
        raise AccountUnfundedError(f"the paying account {payer.address} has no ether to pay for gas; nothing was sent")
    return payer


def dev_key(args: argparse.Namespace, deployment: Any) -> str:
    if deployment is None or not deployment.dev:
        raise MalformedInputError("--dev-account works only with a dev chain's deployment file")
    key = deployment.account(args.dev_account).private_key
    if not key:
        raise MalformedInputError(f"the deployment file has no private key for {args.dev_account}")
    return str(key)


def confirm(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def proposals_dir(args: argparse.Namespace) -> Path:
    return args.deployment.parent / "proposals"


