"""Staking bindings against a real anvil: unstake, cool-down, withdraw, params, owner setters.

Also drives the ops layer the scripts and CLI use (plain answers to mistakes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import TOKEN, Deployment, DeployParams, deploy, fund_accounts
from node.chain.errors import TransactionRejected
from node.errors import FedchainError
from node.operator.staking import (
    request_unstake,
    stake_more,
    wait_until_withdrawable,
    withdraw,
)
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
STAKE = 10 * TOKEN
COOLDOWN = 300


@dataclass
class Env:
    net: devnet.Devnet
    deployment: Deployment
    owner: ChainClient
    alice: ChainClient


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir: Path = tmp_path_factory.mktemp("devnet")
    net = devnet.up(data_dir, port=free_port())
    try:
        params = DeployParams(min_stake=STAKE, unstake_cooldown=COOLDOWN, treasury=0)
        key = net.accounts[0][1]
        genesis = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        deployment = deploy(net.rpc_url, key, genesis, "t", params, data_dir / "d.json")
        fund_accounts(net.rpc_url, deployment, key, [net.accounts[1][0]], 100 * TOKEN)
        yield Env(
            net,
            deployment,
            ChainClient(net.rpc_url, deployment, key),
            ChainClient(net.rpc_url, deployment, net.accounts[1][1]),
        )
    finally:
        devnet.down(data_dir)


def test_params_read_from_chain(env: Env) -> None:
    p = env.owner.params()
    assert p.min_stake == STAKE
    assert p.unstake_cooldown == COOLDOWN
    assert p.contributor_pool_per_round == env.deployment.contributor_pool_per_round
    assert env.owner.owner() == env.owner.address
    assert env.owner.paused() is False


def test_stake_registers_then_tops_up(env: Env) -> None:
    info = env.alice.stake_info()
    assert not info.registered and info.stake == 0
    with pytest.raises(FedchainError, match="not registered: give --node-dir"):
        stake_more(env.alice, STAKE)
    assert env.alice.ensure_registered(STAKE, PEER, []) is True
    result = stake_more(env.alice, 5 * TOKEN)
    assert result["action"] == "topped up"
    assert "insufficient allowance: approving first" in result["notes"]
    assert env.alice.stake_info().stake == 15 * TOKEN
    with pytest.raises(FedchainError, match="less than the"):
        stake_more(env.alice, 1000 * TOKEN)


def test_unstake_cooldown_then_withdraw(env: Env) -> None:
    with pytest.raises(FedchainError, match="nothing to withdraw"):
        withdraw(env.alice)
    result = request_unstake(env.alice, 10 * TOKEN)
    assert result["unbonding"] == 10 * TOKEN and result["stake"] == 5 * TOKEN
    assert "below the minimum" in result["notes"][0]
    assert "cool-down ends in 5 min" in result["message"]
    info = env.alice.stake_info()
    assert not info.active and info.unlock_at >= env.alice.chain_time()
    with pytest.raises(FedchainError, match=r"cool-down ends in \d+ min"):
        withdraw(env.alice)
    with pytest.raises(TransactionRejected, match="CooldownActive"):
        env.alice.withdraw()
    with pytest.raises(FedchainError, match="later than --timeout"):
        wait_until_withdrawable(env.alice, 60)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # chain time moves on while `withdraw --wait` sleeps
        slept.append(seconds)
        devnet.increase_time(env.net.rpc_url, int(seconds) * 60)

    assert wait_until_withdrawable(env.alice, COOLDOWN, sleep=sleep)["withdrawable"] == 10 * TOKEN
    assert slept and all(1 <= s <= 5 for s in slept)
    before = env.alice.token_balance()
    assert withdraw(env.alice)["withdrawn"] == 10 * TOKEN
    assert env.alice.token_balance() == before + 10 * TOKEN
    assert env.alice.total_unbonding() == 0
    with pytest.raises(FedchainError, match="cannot unstake"):
        request_unstake(env.alice, 6 * TOKEN)


def test_owner_setters_are_bounded(env: Env) -> None:
    env.owner.set_param("unstake_cooldown", 60)
    assert env.owner.pending_params().unstake_cooldown == 60  # from the next round on
    assert env.owner.params().unstake_cooldown == COOLDOWN
    env.owner.set_param("claim_period", 3600)
    assert env.owner.pending_params().claim_period == 3600
    with pytest.raises(TransactionRejected, match=r"ParamOutOfRange\(name=inactivityLeakBps"):
        env.owner.set_param("inactivity_leak_bps", 1001)
    with pytest.raises(TransactionRejected, match=r"ParamOutOfRange\(name=slashBps, value=5001"):
        env.owner.set_param("slash_bps", 5001)
    with pytest.raises(TransactionRejected, match="OwnableUnauthorizedAccount"):
        env.alice.set_param("slash_bps", 1)
    with pytest.raises(FedchainError, match="unknown parameter"):
        env.owner.set_param("nope", 1)
    env.owner.pause()
    assert env.owner.paused() is True
    env.owner.unpause()


def test_funding_beyond_the_fixed_supply_is_a_plain_error(env: Env) -> None:
    from node.errors import ChainError

    holder = env.owner.token_balance()
    with pytest.raises(ChainError, match="cannot fund 2 account.*FED cannot be minted"):
        fund_accounts(
            env.net.rpc_url, env.deployment, env.net.accounts[0][1],
            [env.net.accounts[2][0], env.net.accounts[3][0]], holder // 2 + 1,
        )  # fmt: skip
    assert env.owner.token_balance() == holder  # nothing was sent
