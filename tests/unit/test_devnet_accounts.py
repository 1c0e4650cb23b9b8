"""The devnet's node keys come from one pinned mnemonic: deterministic, anvil's own."""

from __future__ import annotations

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

from node.chain.devnet import ANVIL_MNEMONIC

# anvil's documented default accounts 0 (the deployer), 1 and 9
ANVIL_DEFAULTS = {
    0: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    1: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    9: "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
}


def derived(count: int) -> list[str]:
    seed = seed_from_mnemonic(ANVIL_MNEMONIC, "")  # the slow step (PBKDF2): once
    keys = [key_from_seed(seed, f"m/44'/60'/0'/0/{i}") for i in range(count)]
    return [str(Account.from_key(key).address) for key in keys]


def test_the_pinned_mnemonic_gives_anvils_default_accounts() -> None:
    addresses = derived(10)
    for index, address in ANVIL_DEFAULTS.items():
        assert addresses[index] == address


def test_derivation_is_deterministic_and_distinct_beyond_anvils_ten() -> None:
    first = derived(40)
    assert first == derived(40)
    assert len(set(first)) == 40
