"""The deployment file: round trip, clear errors for missing or malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak

from node.chain.deploy import Deployment, DeployParams
from node.errors import ChainError

GENESIS = "bafkreifo5owuu6lpzqxblxcmmbq3ixwzwnz7e2w7y6mmu7jnrtcydatrry"


def sample() -> Deployment:
    return Deployment(
        chain_id=31337,
        rpc_url="http://127.0.0.1:8545",
        token="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        coordinator="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        deployer="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        deploy_block=2,
        genesis_model_cid=GENESIS,
        task_id="mnist",
        params=DeployParams(
            min_stake=5, reward_per_round=1000, voter_share_bps=2500, claim_period=600, supply=7
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "deployment.json"
    sample().save(path)
    assert Deployment.load(path) == sample()
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["task_id_hash"] == "0x" + keccak(b"mnist").hex()
    assert data["params"]["min_stake"] == 5
    assert (data["params"]["claim_period"], data["params"]["supply"]) == (600, 7)


def test_files_without_the_incentive_parameters_load_their_defaults(tmp_path: Path) -> None:
    data = sample().to_json()
    for key in ("late_vote_grace", "claim_period", "inactivity_rounds", "inactivity_leak_bps"):
        del data["params"][key]
    del data["params"]["committee_size"]
    del data["params"]["supply"]
    params = Deployment.from_json(data).params
    assert (params.late_vote_grace, params.claim_period) == (15, 86_400)
    assert (params.inactivity_rounds, params.inactivity_leak_bps) == (5, 100)
    assert params.supply == 10_000_000 * 10**18
    assert params.committee_size == 0  # everyone, as before committees


def test_defaults_are_within_the_contracts_bounds() -> None:
    assert DeployParams().problems() == []
    assert len(DeployParams().as_tuple()) == 16  # the Solidity Params, stop rule included


def test_contributor_pool_per_round() -> None:
    assert sample().contributor_pool_per_round == 750


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ChainError, match="no deployment file"):
        Deployment.load(tmp_path / "nope.json")


def test_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"version": 1, "chain_id": 1}))
    with pytest.raises(ChainError, match="malformed deployment file"):
        Deployment.load(path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ChainError, match="unsupported deployment file version"):
        Deployment.load(path)
