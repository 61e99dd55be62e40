"""``civicpass governance``: the consortium's k-of-n approval of trust-registry changes, from the command line.

Set-up: each member runs ``keygen`` (a BLS key file sealed with their passphrase; it prints the member card to
hand over), then the registry's current admin runs ``init --members CARD... --threshold K``, which deploys
TrustGovernance, hands it the TrustRegistry's admin role (shown first, confirmed) and records its address in the
deployment file, where every other command finds it. From then on a change is a file passed between members:
``propose`` reads the consortium from the chain and writes a proposal file; each member runs ``sign`` offline (the
digest is recomputed from the proposal's fields and the decoded action shown, never taken from the file); anyone
runs ``submit``, which checks the shares off chain, aggregates them and sends one transaction. ``registry``,
``members`` and ``proposals`` only read. Transactions are paid from an Ethereum keystore (``account new`` makes
one) or, on a dev chain, a dev account of the deployment file.

Refusals print ``civicpass governance: CODE: what is wrong`` and a line saying what to do. Exit codes: 0 done;
1 refused (not a member, too few or mismatched signatures, a stale proposal, a revert); 2 bad input or usage
(including a wrong passphrase); 3 the chain could not be reached.

BLS (py_ecc, eth_abi) and the chain bindings are imported where they are used: a core install has neither, and its
``civicpass`` still builds this parser for the commands it can run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from civicpass import _governance_keys as keys
from civicpass._governance_common import (
    HINTS,
    PROPOSAL_FORMAT,
    ConsortiumChangedError,
    NotAMemberError,
    await_tx,
    check_shares,
    confirm,
    deployment_of,
    describe,
    governance_of,
    mismatch,
    payer_of,
    proposal_of,
    proposals_dir,
    say,
    web3_of,
    write_doc,
)
from civicpass._governance_setup import member_cards, run_account, run_init, run_keygen
from civicpass._invocation import runnable
from credcore.errors import CredError, InfrastructureError, MalformedInputError

_DEFAULT_DEPLOYMENT = Path(".civicpass/deployment.json")
_ACTIONS = {  # command word -> (credcore.bls.Action name, arguments)
    "accredit": ("ACCREDIT_ISSUER", "ACCOUNT IDENTIFIER NAME TYPE..."),
    "suspend": ("SUSPEND_ISSUER", "ACCOUNT"),
    "add-member": ("ADD_MEMBER", "CARD (as keygen printed it, PUBLIC_KEY_HEX:POP_HEX, or the key file)"),
    "remove-member": ("REMOVE_MEMBER", "PUBLIC_KEY_HEX"),
    "threshold": ("SET_THRESHOLD", "K"),
    "transfer-admin": ("TRANSFER_REGISTRY_ADMIN", "NEW_ADMIN"),
}

def register(sub: Any) -> None:
    chain = argparse.ArgumentParser(add_help=False)
    chain.add_argument("--deployment", type=Path, default=_DEFAULT_DEPLOYMENT, metavar="FILE",
                       help=f"deployment file (default {_DEFAULT_DEPLOYMENT}): registries, RPC URL, governance")
    chain.add_argument("--governance", metavar="ADDRESS", help="TrustGovernance (default: the deployment file's)")
    chain.add_argument("--rpc-url", help="JSON-RPC endpoint (default: the deployment file's)")
    pay = argparse.ArgumentParser(add_help=False)
    pay.add_argument("--account", type=Path, metavar="KEYSTORE", help="Ethereum keystore of the paying account")
    pay.add_argument("--account-passphrase-file", type=Path, metavar="FILE",
                     help=f"its passphrase (default ${keys.ACCOUNT_PASSPHRASE_ENV}, else a prompt)")
    pay.add_argument("--dev-account", metavar="ROLE", help="dev chains only: pay with this deployment-file account")
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="the key file's passphrase (default $CIVICPASS_GOVERNANCE_PASSPHRASE, else a prompt)")
    secret.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)  # tests: cheap scrypt

    g = sub.add_parser("governance", help="consortium approval of trust-registry changes (BLS k-of-n)")
    gs = g.add_subparsers(dest="governance_command", required=True, metavar="ACTION")
    _register_setup(gs, chain, pay, secret)
    _register_changes(gs, chain, pay, secret)


def _register_setup(gs: Any, chain: argparse.ArgumentParser, pay: argparse.ArgumentParser,
                    secret: argparse.ArgumentParser) -> None:
    p = gs.add_parser("keygen", parents=[secret], help="make your member key file (sealed with a passphrase)")
    p.add_argument("--out", required=True, type=Path, help="key file to create (mode 0600; refuses to overwrite)")
    p.add_argument("--import", dest="import_file", type=Path, metavar="OLD",
                   help="seal the secret of an older plaintext member key file instead of making a new one")
    p.set_defaults(func=_guard(run_keygen))
    p = gs.add_parser("account", parents=[chain], help="make an Ethereum keystore for the account that pays")
    p.add_argument("--out", required=True, type=Path, help="keystore file to create (mode 0600)")
    p.add_argument("--import-key-file", type=Path, metavar="FILE", help="wrap this hex private key instead")
    p.add_argument("--dev-account", metavar="ROLE", help="dev chains only: wrap this deployment-file account")
    p.add_argument("--account-passphrase-file", type=Path, metavar="FILE", help="the keystore's passphrase")
    p.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_guard(run_account))
    p = gs.add_parser("init", parents=[chain, pay], help="deploy TrustGovernance and hand it the registry's admin role")
    p.add_argument("--members", nargs="+", required=True, metavar="CARD",
                   help="each member: their key file, or PUBLIC_KEY_HEX:POP_HEX as `keygen` printed it")
    p.add_argument("--threshold", type=int, required=True, metavar="K", help="signatures needed for a change")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_guard(run_init))


def _register_changes(gs: Any, chain: argparse.ArgumentParser, pay: argparse.ArgumentParser,
                      secret: argparse.ArgumentParser) -> None:
    p = gs.add_parser("members", parents=[chain], help="list the consortium: members, threshold, next nonce")
    p.set_defaults(func=_guard(run_members))
    p = gs.add_parser("registry", parents=[chain], help="what the trust registry holds: issuers, types, keys")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(run_registry))
    p = gs.add_parser("proposals", parents=[chain], help="proposal files waiting for signatures or submission")
    p.add_argument("paths", nargs="*", type=Path, help="files or directories (default: the proposals directory)")
    p.add_argument("--all", action="store_true", help="also list done and stale proposals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(run_proposals))
    p = gs.add_parser("propose", parents=[chain], help="write a proposal file for members to sign")
    p.add_argument("action", choices=sorted(_ACTIONS), help="; ".join(f"{k} {v[1]}" for k, v in _ACTIONS.items()))
    p.add_argument("args", nargs="*", help="the action's arguments")
    p.add_argument("--out", type=Path, help="proposal file to write (default: in the proposals directory)")
    p.set_defaults(func=_guard(run_propose))
    p = gs.add_parser("sign", parents=[secret], help="add your signature to a proposal file (offline)")
    p.add_argument("proposal", type=Path)
    p.add_argument("--key", required=True, type=Path, help="your member key file (from keygen)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_guard(run_sign))
    p = gs.add_parser("submit", parents=[chain, pay], help="aggregate the signatures and send the proposal on chain")
    p.add_argument("proposal", type=Path)
    p.set_defaults(func=_guard(run_submit))


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except CredError as exc:
            hint = HINTS.get(exc.code)
            if exc.code == "governance_key_file_invalid" and exc.context.get("plaintext"):
                hint = "seal it: `civicpass governance keygen --import OLD_FILE --out NEW_FILE`, then delete OLD_FILE."
            print(runnable(f"civicpass governance: {exc.code}: {exc.detail}"), file=sys.stderr)
            if hint:
                print(runnable(f"  what to do: {hint}"), file=sys.stderr)
            if isinstance(exc, InfrastructureError) and exc.code != "registry_transaction_failed":
                return 3
            return 2 if isinstance(exc, MalformedInputError) else 1
        except OSError as exc:
            print(f"civicpass governance: {exc.strerror or type(exc).__name__}: {exc.filename or ''}", file=sys.stderr)
            return 2

    return run


# --- reading -------------------------------------------------------------------------------------------------
def run_members(args: argparse.Namespace) -> int:
    state = governance_of(args).state()
    print(f"governance {state.address} on chain {state.chain_id}: {state.threshold} of {len(state.members)}, "
          f"next nonce {state.nonce}")
    for i, pk in enumerate(state.members):
        print(f"  [{i}] {pk.hex()}")
    return 0


def run_registry(args: argparse.Namespace) -> int:
    from civicpass._governance_views import show_registry

    deployment = deployment_of(args, required=True)
    if args.governance:
        deployment = replace(deployment, governance=args.governance)
    show_registry(web3_of(args, deployment), deployment, as_json=args.json, progress=say)
    return 0


def run_proposals(args: argparse.Namespace) -> int:
    from civicpass._governance_views import show_proposals

    paths = args.paths or [proposals_dir(args)]
    show_proposals(governance_of(args).state(), paths, show_all=args.all, as_json=args.json)
    return 0


# --- proposing, signing, submitting --------------------------------------------------------------------------
def run_propose(args: argparse.Namespace) -> int:
    from credcore import bls

    name, usage = _ACTIONS[args.action]
    action = bls.Action[name]
    values: list[Any] = list(args.args)
    try:
        if action is bls.Action.ADD_MEMBER:
            (card,) = [":".join(values)] if len(values) == 2 else values  # PUBLIC_KEY_HEX POP_HEX still works
            ((public_key, pop),) = member_cards([card])
            proposal = bls.Proposal.add_member(public_key, pop)
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
    state = governance_of(args).state()
    doc = {
        "format": PROPOSAL_FORMAT, "chain_id": state.chain_id, "governance": state.address, "nonce": state.nonce,
        "action": action.name, "payload": proposal.payload.hex(), "summary": describe(proposal),
        "members": [pk.hex() for pk in state.members], "threshold": state.threshold, "signatures": {},
    }
    out = args.out
    if out is None:
        out = proposals_dir(args) / f"proposal-{state.nonce}-{args.action}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        raise MalformedInputError(f"{out} exists already: pass --out to write the proposal elsewhere")
    write_doc(out, doc)
    print(f"proposal {state.nonce} written to {out}: {describe(proposal)}")
    print(runnable(f"needs {state.threshold} of {len(state.members)} signatures: each member runs "
                   f"`civicpass governance sign {out} --key THEIR_KEY_FILE`"))
    return 0


def run_sign(args: argparse.Namespace) -> int:
    from credcore import bls

    doc = keys.read_json(args.proposal, "a proposal file")
    proposal, digest = proposal_of(doc)
    key_doc = keys.read_json(args.key, "a member key file")
    pk, _ = keys.member_card(key_doc, str(args.key))
    members = [bytes.fromhex(m) for m in doc["members"]]
    if pk not in members:
        raise NotAMemberError(f"your key {pk.hex()[:16]}... is not one of the {len(members)} members this proposal "
                              f"was written for (governance {doc['governance']})")
    _, bad = check_shares(doc, digest)
    if bad:
        raise mismatch(bad)
    print(f"chain {doc['chain_id']}, governance {doc['governance']}, nonce {doc['nonce']}:\n  {describe(proposal)}")
    if not args.yes and not confirm("sign? [y/N] "):
        print("not signed")
        return 1
    sk = keys.open_member_key(key_doc, keys.passphrase(args.passphrase_file, what=f"{args.key}"), str(args.key))
    doc["signatures"][str(members.index(pk))] = bls.sign(sk, digest).hex()
    write_doc(args.proposal, doc)
    print(f"signed as member {members.index(pk)}; {len(doc['signatures'])} of {doc['threshold']} signatures")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from contracts.governance import StaleNonceError, TooFewSignersError
    from credcore import bls

    doc = keys.read_json(args.proposal, "a proposal file")
    proposal, digest = proposal_of(doc)
    if args.governance is None:  # the consortium this deployment names; else (no deployment file) the proposal's
        known = deployment_of(args, required=False)
        args.governance = known.governance if known is not None and known.governance else doc["governance"]
    gov = governance_of(args)
    state = gov.state()
    nonce = int(doc["nonce"])
    if (state.chain_id, state.address.lower()) != (int(doc["chain_id"]), str(doc["governance"]).lower()):
        raise MalformedInputError(f"the proposal is for governance {doc['governance']} on chain {doc['chain_id']}, "
                                  f"not for {state.address} on chain {state.chain_id}; nothing was sent")
    if nonce != state.nonce:
        raise StaleNonceError(
            f"proposal nonce {nonce} was already used: the consortium is at nonce {state.nonce} (this proposal was "
            "executed, or another one took its turn)" if nonce < state.nonce else
            f"proposal nonce {nonce} is not due yet: the consortium is at nonce {state.nonce}")
    if [pk.hex() for pk in state.members] != doc["members"]:
        raise ConsortiumChangedError("the consortium's members changed since this proposal was written")
    good, bad = check_shares(doc, digest)
    if len(good) < state.threshold:
        if bad:
            raise mismatch(bad)
        raise TooFewSignersError(f"{len(good)} valid signature{'s' * (len(good) != 1)} of the {state.threshold} "
                                 f"needed (signed: {', '.join(map(str, good)) or 'nobody'}); nothing was sent")
    if bad:
        say(f"ignoring member {', '.join(map(str, bad))}'s signature: it does not match this proposal as written")
    good = good[: state.threshold]  # fewer signers, cheaper verification on chain
    shares = [bytes.fromhex(doc["signatures"][str(i)]) for i in good]
    deployment = deployment_of(args, required=False)
    payer = payer_of(args, gov.w3, deployment)
    pending = gov.execute(proposal, nonce=nonce, signers=bls.signer_bitmap(good), signature=bls.aggregate(shares),
                          sender=payer)
    rx = await_tx(pending, f"proposal {nonce}")
    print(f"executed proposal {nonce} in block {rx.block_number} (tx 0x{rx.tx_hash.hex()}, gas {rx.gas_used}): "
          f"{describe(proposal)}")
    print(runnable("see the registry now: `civicpass governance registry`"))
    return 0
