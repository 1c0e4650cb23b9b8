"""A fresh devnet has funded keys for more nodes than anvil's default ten (the demo's
`--nodes 12` path without training): anvil's accounts are the mnemonic's, in order, and
the deployer funds each with FED while anvil pre-funds their gas."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from web3 import Web3

from node.chain import devnet
from node.chain.artifacts import load_artifact
from node.chain.deploy import TOKEN, DeployParams, deploy, fund_accounts
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
NODES = 12
GENESIS = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def test_twelve_nodes_get_derived_funded_accounts(tmp_path: Path) -> None:
    net = devnet.up(tmp_path / "anvil", port=free_port(), accounts=NODES + 1)
    try:
        seed = seed_from_mnemonic(devnet.ANVIL_MNEMONIC, "")
        for index, (address, key) in enumerate(net.accounts):
            derived = key_from_seed(seed, f"m/44'/60'/0'/0/{index}")
            assert (Account.from_key(derived).address, derived.hex()) == (
                address,
                key.removeprefix("0x"),
            )
        deployer, nodes = net.accounts[0], net.accounts[1:]
        assert len(nodes) == NODES
        params = DeployParams(treasury=0)
        deployment = deploy(net.rpc_url, deployer[1], GENESIS, "t", params, tmp_path / "d.json")
        fund_accounts(net.rpc_url, deployment, deployer[1], [a for a, _ in nodes], 1000 * TOKEN)
        w3 = Web3(Web3.HTTPProvider(net.rpc_url))
        token = w3.eth.contract(address=deployment.token, abi=load_artifact("FedToken").abi)
        for address, _ in nodes:
            assert token.functions.balanceOf(address).call() == 1000 * TOKEN
            assert w3.eth.get_balance(address) == Web3.to_wei(10_000, "ether")  # for gas
        left = token.functions.balanceOf(deployer[0]).call()
        assert left == params.supply - NODES * 1000 * TOKEN
    finally:
        devnet.down(tmp_path / "anvil")
