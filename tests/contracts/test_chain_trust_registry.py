"""TrustRegistry behaviour: admin role, accreditation, suspension, credential types, key history. Every revert."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode

from contracts import AnchorRegistry
from contracts._artifacts import load_artifact
from contracts._tx import call_view
from contracts.errors import (
    CredentialTypeUnchangedError,
    IdentifierTakenError,
    InvalidKeyWindowError,
    InvalidRegistryArgumentError,
    IssuerExistsError,
    IssuerNotFoundError,
    IssuerSuspendedError,
    KeyAlreadyRevokedError,
    KeyExistsError,
    KeyNotFoundError,
    NotAuthorizedError,
    RegistryNotAttachableError,
)
from credcore.keys import SigningKey

pytestmark = pytest.mark.chain

ZERO = "0x" + "00" * 20
RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"


def p256() -> SigningKey:
    return SigningKey.generate("P-256")


# --- admin role ----------------------------------------------------------------------------------------
def test_constructor_refuses_zero_admin(chain):
    data = load_artifact("TrustRegistry").bytecode + abi_encode(["address"], [ZERO])
    with pytest.raises(InvalidRegistryArgumentError):
        chain.admin.send(None, data, gas=3_000_000).wait()


def test_admin_transfer_moves_the_role(chain):
    trust, _, _ = chain.registries(chain.deploy())
    trust.transfer_admin(chain.outsider.address, sender=chain.admin).wait()
    assert trust.admin() == chain.outsider.address
    with pytest.raises(NotAuthorizedError):
        chain.accredit(trust, chain.issuer)
    trust.transfer_admin(chain.admin.address, sender=chain.outsider).wait()
    assert trust.admin() == chain.admin.address


def test_admin_transfer_refused_for_non_admin_and_zero_address(chain):
    trust, _, _ = chain.registries(chain.deploy())
    with pytest.raises(NotAuthorizedError):
        chain.raw(trust, "transferAdmin", [chain.outsider.address], chain.outsider)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(trust, "transferAdmin", [ZERO], chain.admin)


# --- accreditation -------------------------------------------------------------------------------------
def test_accredited_issuer_is_readable_and_pushed_to_registries(chain, deployed):
    trust, anchors, statuses = deployed
    record = trust.issuer(chain.issuer.address)
    assert record is not None and record.identifier.startswith("did:ethr:") and record.suspended_at is None
    assert trust.issuer_by_identifier(record.identifier) == chain.issuer.address
    assert trust.may_issue(chain.issuer.address, RESIDENT)
    assert not trust.may_issue(chain.issuer.address, MERCHANT)
    assert anchors.is_active_issuer(chain.issuer.address) and statuses.is_active_issuer(chain.issuer.address)
    assert trust.issuer(chain.outsider.address) is None
    assert trust.issuer_by_identifier("did:web:nobody.example") is None


def test_accreditation_refusals(chain, deployed):
    trust, _, _ = deployed
    existing = trust.issuer(chain.issuer.address)
    assert existing is not None
    types = [RESIDENT]
    with pytest.raises(NotAuthorizedError):
        chain.raw(trust, "accreditIssuer", [chain.issuer2.address, "did:x:1", "n", types], chain.outsider)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(trust, "accreditIssuer", [ZERO, "did:x:1", "n", types], chain.admin)
    with pytest.raises(IssuerExistsError):
        chain.raw(trust, "accreditIssuer", [chain.issuer.address, "did:x:2", "n", types], chain.admin)
    with pytest.raises(IdentifierTakenError):
        chain.raw(trust, "accreditIssuer", [chain.issuer2.address, existing.identifier, "n", types], chain.admin)
    for identifier, name in (("", "n"), ("did:x:3", ""), ("d" * 257, "n")):
        with pytest.raises(InvalidRegistryArgumentError):
            chain.raw(trust, "accreditIssuer", [chain.issuer2.address, identifier, name, types], chain.admin)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(trust, "accreditIssuer", [chain.issuer2.address, "did:x:4", "n", [""]], chain.admin)
    assert trust.issuer(chain.issuer2.address) is None


def test_facade_checks_arguments_before_sending(chain, deployed):
    trust, _, _ = deployed
    with pytest.raises(InvalidRegistryArgumentError):
        trust.accredit_issuer(ZERO, identifier="x", name="n", credential_types=[], sender=chain.admin)
    with pytest.raises(InvalidRegistryArgumentError):
        trust.add_key(SigningKey.generate("Ed25519").public_key, sender=chain.issuer)
    with pytest.raises(InvalidRegistryArgumentError):
        trust.revoke_key("not base64url!", sender=chain.issuer)


# --- suspension ----------------------------------------------------------------------------------------
def test_suspension_is_pushed_and_ends_key_validity(chain, deployed):
    trust, anchors, statuses = deployed
    key = p256().public_key
    trust.add_key(key, sender=chain.issuer).wait()
    chain.advance(10)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    record = trust.issuer(chain.issuer.address)
    assert record is not None and record.suspended_at is not None
    assert not anchors.is_active_issuer(chain.issuer.address) and not statuses.is_active_issuer(chain.issuer.address)
    assert not trust.may_issue(chain.issuer.address, RESIDENT)
    thumb = key.thumbprint_bytes()
    assert trust.was_key_valid_at(chain.issuer.address, thumb, record.suspended_at - 1)
    assert not trust.was_key_valid_at(chain.issuer.address, thumb, record.suspended_at)


def test_suspension_refusals(chain, deployed):
    trust, _, _ = deployed
    with pytest.raises(NotAuthorizedError):
        trust.suspend_issuer(chain.issuer.address, sender=chain.outsider)
    with pytest.raises(IssuerNotFoundError):
        chain.raw(trust, "suspendIssuer", [chain.outsider.address], chain.admin)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    with pytest.raises(IssuerSuspendedError):
        chain.raw(trust, "suspendIssuer", [chain.issuer.address], chain.admin)


# --- credential types ----------------------------------------------------------------------------------
def test_credential_types_can_be_granted_and_withdrawn(chain, deployed):
    trust, _, _ = deployed
    trust.grant_credential_type(chain.issuer.address, MERCHANT, sender=chain.admin).wait()
    assert trust.may_issue(chain.issuer.address, MERCHANT)
    trust.withdraw_credential_type(chain.issuer.address, RESIDENT, sender=chain.admin).wait()
    assert not trust.may_issue(chain.issuer.address, RESIDENT)


def test_credential_type_refusals(chain, deployed):
    trust, _, _ = deployed
    issuer = chain.issuer.address
    with pytest.raises(NotAuthorizedError):
        chain.raw(trust, "grantCredentialType", [issuer, MERCHANT], chain.outsider)
    with pytest.raises(NotAuthorizedError):
        chain.raw(trust, "withdrawCredentialType", [issuer, RESIDENT], chain.outsider)
    with pytest.raises(IssuerNotFoundError):
        chain.raw(trust, "grantCredentialType", [chain.outsider.address, MERCHANT], chain.admin)
    with pytest.raises(IssuerNotFoundError):
        chain.raw(trust, "withdrawCredentialType", [chain.outsider.address, MERCHANT], chain.admin)
    with pytest.raises(InvalidRegistryArgumentError):
        chain.raw(trust, "grantCredentialType", [issuer, ""], chain.admin)
    with pytest.raises(CredentialTypeUnchangedError):
        chain.raw(trust, "grantCredentialType", [issuer, RESIDENT], chain.admin)
    with pytest.raises(CredentialTypeUnchangedError):
        chain.raw(trust, "withdrawCredentialType", [issuer, MERCHANT], chain.admin)


# --- attaching registries ------------------------------------------------------------------------------
def _deploy_gate(chain, trust_address: str) -> AnchorRegistry:
    data = load_artifact("AnchorRegistry").bytecode + abi_encode(["address"], [trust_address])
    rx = chain.admin.send(None, data, gas=900_000).wait()
    assert rx.contract_address is not None
    return AnchorRegistry(chain.w3, rx.contract_address)


def test_attaching_a_registry_late_backfills_standing(chain, deployed):
    trust, _, _ = deployed
    late = _deploy_gate(chain, trust.address)
    assert not late.is_active_issuer(chain.issuer.address)
    trust.attach_registry(late.address, sender=chain.admin).wait()
    assert late.is_active_issuer(chain.issuer.address)
    assert trust.registries()[-1] == late.address


def test_attach_refusals(chain, deployed):
    trust, anchors, _ = deployed
    with pytest.raises(NotAuthorizedError):
        chain.raw(trust, "attachRegistry", [anchors.address], chain.outsider)
    with pytest.raises(RegistryNotAttachableError):
        chain.raw(trust, "attachRegistry", [anchors.address], chain.admin)
    foreign = _deploy_gate(chain, chain.outsider.address)
    with pytest.raises(RegistryNotAttachableError):
        chain.raw(trust, "attachRegistry", [foreign.address], chain.admin)


def test_only_the_trust_registry_updates_standing(chain, deployed):
    _, anchors, statuses = deployed
    for gate in (anchors, statuses):
        with pytest.raises(NotAuthorizedError):
            chain.raw(gate, "updateStanding", [chain.outsider.address, 1, True], chain.outsider)
    assert not anchors.is_active_issuer(chain.outsider.address)


def test_issuer_index_views(chain, deployed):
    trust, _, _ = deployed
    assert trust.issuer_count() == 1
    assert trust._c.functions.issuerAt(1).call() == chain.issuer.address
    with pytest.raises(IssuerNotFoundError):
        call_view(trust._c.functions.issuerAt(0).call)


# --- keys ----------------------------------------------------------------------------------------------
def test_key_registration_history_and_validity(chain, deployed):
    trust, _, _ = deployed
    issuer = chain.issuer.address
    k1, k2 = p256().public_key, p256().public_key
    t0 = chain.now()
    trust.add_key(k1, sender=chain.issuer).wait()
    trust.add_key(k2, sender=chain.issuer, valid_from=t0 + 1_000, valid_until=t0 + 2_000).wait()
    history = trust.key_history(issuer)
    assert [r.thumbprint for r in history] == [k1.thumbprint_bytes(), k2.thumbprint_bytes()]
    assert history[0].public_key == k1 and history[0].valid_until is None and history[0].revoked_at is None
    assert history[1].valid_from == t0 + 1_000 and history[1].valid_until == t0 + 2_000
    assert trust.key(issuer, k1.thumbprint()) == history[0]  # base64url thumbprint works too
    assert not trust.was_key_valid_at(issuer, k2.thumbprint_bytes(), t0 + 999)
    assert trust.was_key_valid_at(issuer, k2.thumbprint_bytes(), t0 + 1_000)
    assert not trust.was_key_valid_at(issuer, k2.thumbprint_bytes(), t0 + 2_000)
    assert trust.key(issuer, b"\x01" * 32) is None
    assert not trust.was_key_valid_at(issuer, b"\x01" * 32, t0)


def test_add_key_refusals(chain, deployed):
    trust, _, _ = deployed
    key = p256().public_key
    thumb, pub = key.thumbprint_bytes(), key.to_bytes()
    t0 = chain.now()
    with pytest.raises(IssuerNotFoundError):
        trust.add_key(key, sender=chain.outsider)
    for bad_thumb, bad_pub in ((bytes(32), pub), (thumb, pub[:32]), (thumb, b"\x04" + pub[1:])):
        with pytest.raises(InvalidRegistryArgumentError):
            chain.raw(trust, "addKey", [bad_thumb, bad_pub, 0, 0], chain.issuer)
    with pytest.raises(InvalidKeyWindowError):
        chain.raw(trust, "addKey", [thumb, pub, t0 - 100, 0], chain.issuer)
    with pytest.raises(InvalidKeyWindowError):
        chain.raw(trust, "addKey", [thumb, pub, t0 + 500, t0 + 500], chain.issuer)
    trust.add_key(key, sender=chain.issuer).wait()
    with pytest.raises(KeyExistsError):
        trust.add_key(key, sender=chain.issuer)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    with pytest.raises(IssuerSuspendedError):
        trust.add_key(p256().public_key, sender=chain.issuer)


def test_rotation_ends_the_old_key_when_the_new_one_starts(chain, deployed):
    trust, _, _ = deployed
    old, new = p256().public_key, p256().public_key
    trust.add_key(old, sender=chain.issuer).wait()
    switch = chain.now() + 600
    trust.rotate_key(old.thumbprint_bytes(), new, switch_at=switch, sender=chain.issuer).wait()
    old_rec, new_rec = trust.key_history(chain.issuer.address)
    assert old_rec.valid_until == switch and new_rec.valid_from == switch and new_rec.valid_until is None


def test_rotation_refusals_are_atomic(chain, deployed):
    trust, _, _ = deployed
    new = p256().public_key
    with pytest.raises(KeyNotFoundError):
        chain.raw(trust, "rotateKey", [b"\x01" * 32, new.thumbprint_bytes(), new.to_bytes(), 0], chain.issuer)
    assert trust.key(chain.issuer.address, new.thumbprint_bytes()) is None
    with pytest.raises(IssuerNotFoundError):
        trust.rotate_key(b"\x01" * 32, new, sender=chain.outsider)
    trust.suspend_issuer(chain.issuer.address, sender=chain.admin).wait()
    with pytest.raises(IssuerSuspendedError):
        trust.rotate_key(b"\x01" * 32, new, sender=chain.issuer)


def test_key_expiry_only_shortens(chain, deployed):
    trust, _, _ = deployed
    key = p256().public_key
    t0 = chain.now()
    trust.add_key(key, sender=chain.issuer, valid_until=t0 + 5_000).wait()
    thumb = key.thumbprint_bytes()
    with pytest.raises(InvalidKeyWindowError):
        trust.set_key_expiry(thumb, t0 + 6_000, sender=chain.issuer)  # lengthens
    with pytest.raises(InvalidKeyWindowError):
        chain.raw(trust, "setKeyExpiry", [thumb, t0 - 10], chain.issuer)  # in the past
    trust.set_key_expiry(thumb, t0 + 4_000, sender=chain.issuer).wait()
    record = trust.key(chain.issuer.address, thumb)
    assert record is not None and record.valid_until == t0 + 4_000
    chain.advance(5)
    trust.set_key_expiry(thumb, None, sender=chain.issuer).wait()  # now


def test_key_expiry_refusals(chain, deployed):
    trust, _, _ = deployed
    key = p256().public_key
    with pytest.raises(IssuerNotFoundError):
        trust.set_key_expiry(key.thumbprint_bytes(), None, sender=chain.outsider)
    with pytest.raises(KeyNotFoundError):
        trust.set_key_expiry(key.thumbprint_bytes(), None, sender=chain.issuer)
    trust.add_key(key, sender=chain.issuer).wait()
    trust.revoke_key(key.thumbprint_bytes(), sender=chain.issuer).wait()
    with pytest.raises(KeyAlreadyRevokedError):
        trust.set_key_expiry(key.thumbprint_bytes(), None, sender=chain.issuer)


def test_revocation_by_issuer_admin_and_after_suspension(chain, deployed):
    trust, _, _ = deployed
    issuer = chain.issuer.address
    k1, k2, k3 = (p256().public_key for _ in range(3))
    for k in (k1, k2, k3):
        trust.add_key(k, sender=chain.issuer).wait()
    t0 = chain.now()
    trust.revoke_key(k1.thumbprint_bytes(), sender=chain.issuer, revoked_at=t0 - 1).wait()  # back-dated
    trust.revoke_key(k2.thumbprint_bytes(), issuer=issuer, sender=chain.admin).wait()
    trust.suspend_issuer(issuer, sender=chain.admin).wait()
    trust.revoke_key(k3.thumbprint_bytes(), sender=chain.issuer).wait()
    history = trust.key_history(issuer)
    assert history[0].revoked_at == t0 - 1
    assert all(r.revoked_at is not None for r in history)
    assert not trust.was_key_valid_at(issuer, k1.thumbprint_bytes(), t0 - 1)


def test_revocation_refusals(chain, deployed):
    trust, _, _ = deployed
    key = p256().public_key
    thumb = key.thumbprint_bytes()
    with pytest.raises(KeyNotFoundError):
        trust.revoke_key(thumb, sender=chain.issuer)
    trust.add_key(key, sender=chain.issuer).wait()
    with pytest.raises(NotAuthorizedError):
        trust.revoke_key(thumb, issuer=chain.issuer.address, sender=chain.outsider)
    with pytest.raises(InvalidKeyWindowError):
        chain.raw(trust, "revokeKey", [chain.issuer.address, thumb, chain.now() + 10_000], chain.issuer)
    trust.revoke_key(thumb, sender=chain.issuer).wait()
    with pytest.raises(KeyAlreadyRevokedError):
        trust.revoke_key(thumb, sender=chain.issuer)
