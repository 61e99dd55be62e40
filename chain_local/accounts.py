"""The development accounts both engines fund: the well-known test mnemonic, so tools and docs agree.

These keys are public knowledge (anvil, hardhat and foundry print them on start). They exist for the dev
chain only; the deployment file marks them ``"dev": true`` and production settings refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_account.hdaccount import HDPath, seed_from_mnemonic
from eth_keys import keys

DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: BIP-44 Ethereum path, the same as anvil's default (account ``i`` is ``m/44'/60'/0'/0/i``).
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_WEI = 10_000 * 10**18


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A funded development account. ``private_key`` is 0x-hex and public: never use it off the dev chain."""

    address: str
    private_key: str


@cache
def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> tuple[DevAccount, ...]:
    """The first ``count`` accounts of :data:`DEV_MNEMONIC` (identical to anvil's default accounts)."""
    seed = seed_from_mnemonic(DEV_MNEMONIC, "")
    out = []
    for i in range(count):
        key = keys.PrivateKey(HDPath(f"{DEV_HD_PATH}/{i}").derive(seed))
        out.append(DevAccount(key.public_key.to_checksum_address(), key.to_hex()))
    return tuple(out)
