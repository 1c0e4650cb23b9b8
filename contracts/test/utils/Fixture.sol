// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";
import {Merkle} from "./Merkle.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";

/// @notice A deployed token + coordinator with four funded, approved accounts.
abstract contract Fixture is Test {
    bytes32 internal constant TASK = keccak256("mnist-mlp");
    bytes internal constant GENESIS =
        hex"01551220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    bytes internal constant MODEL =
        hex"01551220bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    bytes internal constant OTHER_MODEL =
        hex"01551220cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    bytes internal constant PEER =
        hex"0024080112201111111111111111111111111111111111111111111111111111111111111111";

    uint256 internal constant MIN_STAKE = 100e18;
    uint64 internal constant COMMIT_WINDOW = 600;
    uint64 internal constant VOTE_WINDOW = 300;
    uint256 internal constant REWARD = 1000e18;
    uint16 internal constant VOTER_BPS = 2000;
    uint16 internal constant SLASH_BPS = 5000;
    uint32 internal constant MIN_PARTICIPANTS = 3;
    uint64 internal constant COOLDOWN = 3600;
    uint64 internal constant GRACE = 15;
    uint64 internal constant CLAIM_PERIOD = 1 days;
    uint32 internal constant INACTIVITY_ROUNDS = 5;
    uint16 internal constant LEAK_BPS = 100;
    /// @dev The metric the helpers vote with.
    uint16 internal constant METRIC = 9000;
    uint256 internal constant SUPPLY = 10_000_000e18;
    uint256 internal constant VOTER_POOL = REWARD * VOTER_BPS / 10_000;
    uint256 internal constant CONTRIBUTOR_POOL = REWARD - VOTER_POOL;
    uint256 internal constant TREASURY = 5000e18;
    uint256 internal constant BALANCE = 10_000e18;

    FedToken internal token;
    FedCoordinator internal coord;
    address internal alice = vm.addr(0xA11CE);
    address internal bob = vm.addr(0xB0B);
    address internal carol = vm.addr(0xCA401);
    address internal dave = vm.addr(0xDA4E);

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        token = new FedToken("Fedchain Token", "FED", address(this), SUPPLY);
        coord = deployCoordinator(defaultParams());
        address[4] memory accounts = [alice, bob, carol, dave];
        for (uint256 i; i < accounts.length; ++i) {
            token.transfer(accounts[i], BALANCE);
            vm.prank(accounts[i]);
            token.approve(address(coord), type(uint256).max);
        }
        token.approve(address(coord), type(uint256).max);
        coord.fundTreasury(TREASURY);
        vm.label(alice, "alice");
        vm.label(bob, "bob");
        vm.label(carol, "carol");
        vm.label(dave, "dave");
    }

    function deployCoordinator(IFedCoordinator.Params memory p)
        internal
        virtual
        returns (FedCoordinator)
    {
        return new FedCoordinator(token, TASK, GENESIS, p);
    }

    function defaultParams() internal pure returns (IFedCoordinator.Params memory) {
        return IFedCoordinator.Params({
            minStake: MIN_STAKE,
            commitWindow: COMMIT_WINDOW,
            voteWindow: VOTE_WINDOW,
            rewardPerRound: REWARD,
            voterShareBps: VOTER_BPS,
            slashBps: SLASH_BPS,
            minParticipants: MIN_PARTICIPANTS,
            unstakeCooldown: COOLDOWN,
            lateVoteGrace: GRACE,
            claimPeriod: CLAIM_PERIOD,
            inactivityRounds: INACTIVITY_ROUNDS,
            inactivityLeakBps: LEAK_BPS,
            committeeSize: 0,
            targetMetricBps: 0,
            patience: 0,
            maxRounds: 0
        });
    }

    function addrs1() internal pure returns (string[] memory a) {
        a = new string[](1);
        a[0] = "/ip4/127.0.0.1/tcp/4001";
    }

    function register(address who, uint256 amount) internal {
        vm.prank(who);
        coord.register(amount, PEER, addrs1());
    }

    /// @dev alice, bob and carol with equal stakes; round 1 open.
    function openRoundWithThree() internal returns (uint256 round) {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        round = coord.advance();
    }

    /// @dev Moves past the late-vote grace of a round finalized now.
    function afterGrace() internal {
        vm.warp(block.timestamp + GRACE);
    }

    function cidOf(address author, uint256 round) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"01551220", keccak256(abi.encode(author, round)));
    }

    function commitAs(address who, uint256 round) internal {
        vm.prank(who);
        coord.commit(round, cidOf(who, round));
    }

    function vote(address who, uint256 round, bytes memory model, bytes32 root) internal {
        vm.prank(who);
        coord.submitOutcome(round, model, root, new address[](0), METRIC);
    }

    function voteSlash(address who, uint256 round, bytes32 root, address[] memory slash) internal {
        vm.prank(who);
        coord.submitOutcome(round, MODEL, root, slash, METRIC);
    }

    /// @dev Round 1 with alice, bob, carol: all commit, alice+bob finalize with `root`.
    function finalizeRoundOne(bytes32 root) internal returns (uint256 round) {
        round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vote(alice, round, MODEL, root);
        vote(bob, round, MODEL, root);
    }

    function rewardLeaves(uint256 round, address[] memory who, uint256[] memory amounts)
        internal
        pure
        returns (bytes32[] memory leaves)
    {
        leaves = new bytes32[](who.length);
        for (uint256 i; i < who.length; ++i) {
            leaves[i] = Merkle.leaf(round, who[i], amounts[i]);
        }
    }
}
