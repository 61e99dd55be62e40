"""``civicpass governance keygen | account | init``: member keys, paying accounts, and setting a consortium up.

``init`` is the one step that moves power: the TrustRegistry's admin hands its role to a new TrustGovernance. It
shows what will change and asks first; it records the contract in the deployment file as soon as it is mined, so
a hand-over that fails afterwards can be run again (it resumes with the same contract) and nothing is lost.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from civicpass import _governance_keys as keys
from civicpass._governance_common import (
    AlreadyInitialisedError,
    NotRegistryAdminError,
    await_tx,
    confirm,
    deployment_of,
    dev_key,
    payer_of,
    say,
    web3_of,
)
from civicpass._invocation import runnable
from credcore.errors import CredError, MalformedInputError


def run_keygen(args: argparse.Namespace) -> int:
    from credcore import bls

    if args.import_file is not None:
        sk = keys.plaintext_member_secret(keys.read_json(args.import_file, "a member key file"), str(args.import_file))
    else:
        sk = bls.keygen(secrets.token_bytes(32))
    secret = keys.passphrase(args.passphrase_file, what=f"the new key file {args.out}", confirm=True)
    doc = keys.seal_member_key(sk, secret, fast=args.insecure_fast_kdf)
    keys.write_private(args.out, doc)
    print(f"member key sealed in {args.out} (keep it and its passphrase; nobody else needs either)")
    print(f"public key           {doc['public_key']}\nproof of possession  {doc['proof_of_possession']}")
    print(f"member card (hand it to whoever sets up or extends the consortium):\n"
          f"  {doc['public_key']}:{doc['proof_of_possession']}")
    return 0


def run_account(args: argparse.Namespace) -> int:
    from eth_account import Account

    if args.import_key_file is not None:
        key = bytes.fromhex(args.import_key_file.read_text(encoding="utf-8").strip().removeprefix("0x"))
    elif args.dev_account:
        key = bytes.fromhex(dev_key(args, deployment_of(args, required=True)).removeprefix("0x"))
    else:
        key = secrets.token_bytes(32)
    address = Account.from_key(key).address
    secret = keys.passphrase(args.account_passphrase_file, env=keys.ACCOUNT_PASSPHRASE_ENV,
                             what=f"the new keystore {args.out}", confirm=True)
    keys.write_private(args.out, keys.seal_account(key, secret, fast=args.insecure_fast_kdf))
    balance = _balance(args, address)
    funds = ("it needs ether to pay for transactions (no chain answered to say its balance)" if balance is None
             else "fund it with ether to pay for transactions" if balance == 0
             else f"it holds {balance / 10**18:g} ether to pay for transactions")
    print(f"account {address} sealed in {args.out} (Ethereum keystore); {funds}")
    return 0


def _balance(args: argparse.Namespace, address: str) -> int | None:
    """The account's balance in wei if the chain (the deployment file's, or --rpc-url) answers within a few
    seconds, else None: making a keystore needs no chain."""
    from web3.exceptions import Web3Exception

    try:
        deployment = deployment_of(args, required=False)
        if not (args.rpc_url or (deployment is not None and deployment.rpc_url)):
            return None
        return int(web3_of(args, deployment, timeout=3).eth.get_balance(address))
    except (CredError, OSError, ValueError, Web3Exception):  # requests' errors are OSErrors
        return None


def member_cards(values: Sequence[str]) -> list[tuple[bytes, bytes]]:
    from credcore import bls

    cards: list[tuple[bytes, bytes]] = []
    for value in values:
        pk, _, pop = value.partition(":")
        try:
            card = (bytes.fromhex(pk), bytes.fromhex(pop))
        except ValueError:
            card = (b"", b"")
        if not card[0]:
            if not Path(value).is_file():
                raise MalformedInputError(f"member {len(cards)}: {value[:20]}... is neither a key file nor "
                                          "PUBLIC_KEY_HEX:POP_HEX")
            card = keys.member_card(keys.read_json(Path(value), "a member key file"), value)
        if not bls.verify_possession(*card):
            from contracts.governance import InvalidProofOfPossessionError

            raise InvalidProofOfPossessionError(f"member {len(cards)} ({value[:20]}...): the proof of possession "
                                                "does not verify for that public key")
        if any(card[0] == c[0] for c in cards):
            raise MalformedInputError(f"member {len(cards)} ({card[0].hex()[:16]}...) is listed twice")
        cards.append(card)
    return cards


def run_init(args: argparse.Namespace) -> int:
    from contracts import TrustRegistry
    from contracts.governance import InvalidThresholdError, TrustGovernance
    from credcore import bls

    cards = member_cards(args.members)
    if not 1 <= args.threshold <= len(cards) <= bls.MAX_MEMBERS:
        raise InvalidThresholdError(f"threshold {args.threshold} with {len(cards)} members: need 1 <= threshold <= "
                                    f"members <= {bls.MAX_MEMBERS}")
    deployment = deployment_of(args, required=True)
    w3 = web3_of(args, deployment)
    trust = TrustRegistry(w3, deployment.trust_registry)
    admin = trust.admin()
    if deployment.governance is not None and admin == deployment.governance:
        gov = TrustGovernance(w3, deployment.governance)
        raise AlreadyInitialisedError(f"TrustGovernance {gov.address} ({gov.threshold()} of {len(gov.members())}) "
                                      "already holds the TrustRegistry's admin role")
    payer = payer_of(args, w3, deployment)
    if payer.address != admin:
        raise NotRegistryAdminError(f"the paying account {payer.address} is not the TrustRegistry's admin ({admin}); "
                                    "only the admin can hand the registry over")
    resume = deployment.governance is not None and _same_consortium(w3, deployment.governance, cards, args.threshold)
    lines = [
        f"TrustRegistry {trust.address} on chain {deployment.chain_id} ({deployment.rpc_url or args.rpc_url})",
        f"  consortium: {args.threshold} of {len(cards)} members must sign every change",
        *(f"    [{i}] {pk.hex()}" for i, (pk, _) in enumerate(cards)),
        f"  the registry's admin role moves from {admin} (the paying account) to "
        + (f"the TrustGovernance already deployed at {deployment.governance}" if resume else "a new TrustGovernance"),
        "  after this, the admin key can no longer change the registry: only the consortium can.",
    ]
    print("\n".join(lines))
    if not args.yes and not confirm("hand the registry over? [y/N] "):
        print("nothing changed")
        return 1
    if resume:
        gov = TrustGovernance(w3, deployment.governance)
    else:
        say(f"deploying TrustGovernance for {len(cards)} members (threshold {args.threshold})")
        pending = TrustGovernance.send_deploy(payer, registry=trust.address, members=cards, threshold=args.threshold)
        gov = TrustGovernance(w3, await_tx(pending, "the TrustGovernance deployment").contract_address)
        replace(deployment, governance=gov.address).save(args.deployment)  # kept even if the hand-over fails
        say(f"TrustGovernance {gov.address} recorded in {args.deployment}")
    await_tx(trust.transfer_admin(gov.address, sender=payer), "the hand-over of the registry's admin role")
    if trust.admin() != gov.address:
        raise NotRegistryAdminError("the hand-over was mined but the registry's admin is not the consortium")
    if resume:
        replace(deployment, governance=gov.address).save(args.deployment)
    print(f"the TrustRegistry's admin is now TrustGovernance {gov.address}: {args.threshold} of {len(cards)}")
    print(runnable(f"recorded in {args.deployment}; next: `civicpass governance propose ...`, "
                   "`civicpass governance registry`"))
    return 0


def _same_consortium(w3: Any, address: str, cards: Sequence[tuple[bytes, bytes]], threshold: int) -> bool:
    from contracts.governance import TrustGovernance

    if not w3.eth.get_code(address):
        return False
    gov = TrustGovernance(w3, address)
    return gov.members() == [pk for pk, _ in cards] and gov.threshold() == threshold


