import pytest

from credcore.did import (
    _b58decode,
    _b58encode,
    did_ethr,
    did_key,
    ethereum_address,
    parse_did_ethr,
    resolve_did_key,
    to_checksum_address,
)
from credcore.errors import InvalidKeyError, MalformedInputError, UnsupportedAlgorithmError
from credcore.keys import SigningKey

# EIP-55 §"Test Cases"
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
ONE = SigningKey.from_secret("secp256k1", (1).to_bytes(32, "big"))  # the well-known account of private key 1


@pytest.mark.parametrize("address", EIP55)
def test_eip55_checksum(address):
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(address.upper().replace("0X", "0x")) == address
    assert to_checksum_address(address) == address


def test_wrong_mixed_case_checksum_is_refused():
    bad = EIP55[0][:-1] + EIP55[0][-1].swapcase()
    with pytest.raises(MalformedInputError):
        to_checksum_address(bad)


@pytest.mark.parametrize("bad", ["", "0x1234", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x" + "g" * 40])
def test_malformed_address_is_refused(bad):
    with pytest.raises(MalformedInputError):
        to_checksum_address(bad)


def test_ethereum_address_of_private_key_one():
    assert ethereum_address(ONE.public_key) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"


def test_ethereum_address_matches_eth_account():
    from eth_account import Account

    key = SigningKey.from_secret("secp256k1", bytes(range(7, 39)))
    assert ethereum_address(key.public_key) == Account.from_key(key.secret_bytes()).address


def test_ethereum_address_needs_secp256k1():
    with pytest.raises(UnsupportedAlgorithmError):
        ethereum_address(SigningKey.from_secret("P-256", bytes(range(1, 33))).public_key)


def test_did_ethr_with_chain_id_and_bare():
    addr = EIP55[0].lower()
    assert did_ethr(addr, 31337) == f"did:ethr:0x7a69:{EIP55[0]}"
    assert did_ethr(addr) == f"did:ethr:{EIP55[0]}"
    with pytest.raises(MalformedInputError):
        did_ethr(addr, 0)


def test_parse_did_ethr_round_trip():
    parsed = parse_did_ethr(did_ethr(EIP55[1], 1337))
    assert (parsed.chain_id, parsed.address) == (1337, EIP55[1])
    assert parse_did_ethr(f"did:ethr:{EIP55[1].lower()}").chain_id is None


def test_parse_did_ethr_public_key_form_gives_the_address():
    compressed = "0x" + ONE.public_key.to_bytes().hex()
    parsed = parse_did_ethr(f"did:ethr:0x1:{compressed}")
    assert parsed.address == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    assert parsed.public_key == ONE.public_key


@pytest.mark.parametrize(
    "bad",
    ["did:ethr:", "did:key:z6Mk", "did:ethr:mainnet:0x" + "11" * 20, "did:ethr:0x0:0x" + "11" * 20, "did:ethr:0x1"],
)
def test_malformed_did_ethr_is_refused(bad):
    with pytest.raises(MalformedInputError):
        parse_did_ethr(bad)


@pytest.mark.parametrize("curve", ["P-256", "secp256k1", "Ed25519"])
def test_did_key_round_trip(curve):
    key = SigningKey.generate(curve).public_key
    did = did_key(key)
    assert did.startswith({"P-256": "did:key:zDn", "secp256k1": "did:key:zQ3s", "Ed25519": "did:key:z6Mk"}[curve])
    assert resolve_did_key(did) == key


def test_base58_round_trip_keeps_leading_zeros():
    for data in (b"", b"\x00", b"\x00\x00\x01", bytes(range(40))):
        assert _b58decode(_b58encode(data)) == data


@pytest.mark.parametrize(
    "bad",
    ["did:key:", "did:key:m" + "A" * 40, "did:key:z0OIl", "did:web:example.com", "did:key:z" + "1" * 2000, 42],
)
def test_malformed_did_key_is_refused(bad):
    with pytest.raises(MalformedInputError):
        resolve_did_key(bad)


def test_uncompressed_or_off_curve_did_key_is_refused():
    key = SigningKey.generate("P-256").public_key
    uncompressed = "did:key:z" + _b58encode(b"\x80\x24" + key.to_bytes(compressed=False))
    with pytest.raises(MalformedInputError):
        resolve_did_key(uncompressed)
    off_curve = "did:key:z" + _b58encode(b"\x80\x24\x02" + b"\xff" * 32)
    with pytest.raises(InvalidKeyError):
        resolve_did_key(off_curve)


def test_unknown_multicodec_is_unsupported():
    with pytest.raises(UnsupportedAlgorithmError):
        resolve_did_key("did:key:z" + _b58encode(b"\x50" + bytes(32)))
