// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../utils/Test.sol";
import {Merkle} from "../utils/Merkle.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";

/// @notice Drives the coordinator through random but plausible sequences: registrations,
///         top-ups, treasury funding, rounds that finalize (sometimes with slashes) or fail,
///         contributor and voter claims. Ghost sums track every token in and out.
contract CoordinatorHandler is Test {
    bytes internal constant MODEL =
        hex"01551220bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    bytes internal constant OTHER =
        hex"01551220cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    bytes internal constant PEER = hex"00240801122011";

    FedCoordinator public immutable coord;
    FedToken public immutable token;
    address[] public actors;

    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public ghostFinalized;
    uint256 public ghostFailed;
    /// Finalizations where the winning weight was below 2/3 of the snapshot (must stay 0).
    uint256 public ghostBelowQuorum;

    mapping(address actor => uint256) public ghostDeposited;
    mapping(address actor => uint256) public ghostWithdrawn;
    mapping(address actor => uint256) public ghostSlashed;
    mapping(uint256 round => mapping(address actor => uint256)) public ghostCommits;
    mapping(uint256 round => mapping(address actor => uint256)) public ghostClaims;
    mapping(uint256 round => mapping(address actor => uint256)) public ghostVoterClaims;

    constructor(FedCoordinator coord_, FedToken token_, address[] memory actors_) {
        coord = coord_;
        token = token_;
        actors = actors_;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    /* ------------------------------- actions ------------------------------ */

    function register(uint256 seed, uint256 amount) external {
        address who = _actor(seed);
        amount = bound(amount, 50e18, 1000e18); // below minStake sometimes: must revert
        vm.prank(who);
        try coord.register(amount, PEER, new string[](0)) {
            ghostIn += amount;
            ghostDeposited[who] += amount;
        } catch {}
    }

    function topUp(uint256 seed, uint256 amount) external {
        address who = _actor(seed);
        amount = bound(amount, 1, 500e18);
        vm.prank(who);
        try coord.stake(amount) {
            ghostIn += amount;
            ghostDeposited[who] += amount;
        } catch {}
    }

    function requestUnstake(uint256 seed, uint256 amount) external {
        address who = _actor(seed);
        (uint256 s,,,,) = coord.stakeInfo(who);
        amount = bound(amount, 0, s + 1); // 0 and more than the stake must revert
        vm.prank(who);
        try coord.requestUnstake(amount) {} catch {}
    }

    function withdraw(uint256 seed) external {
        address who = _actor(seed);
        (, uint256 unbonding,,,) = coord.stakeInfo(who);
        vm.prank(who);
        try coord.withdraw() {
            ghostOut += unbonding;
            ghostWithdrawn[who] += unbonding;
        } catch {}
    }

    /// The owner tunes parameters within their bounds (this handler is not the owner:
    /// the test contract forwards through `owner`).
    function setSlashBps(uint16 bps) external {
        bps = uint16(bound(bps, 0, 5000));
        vm.prank(coord.owner());
        coord.setSlashBps(bps);
    }

    function setUnstakeCooldown(uint64 secs) external {
        secs = uint64(bound(secs, 60, 2000));
        vm.prank(coord.owner());
        coord.setUnstakeCooldown(secs);
    }

    function fund(uint256 amount) external {
        amount = bound(amount, 1, 2000e18);
        address who = actors[0];
        vm.prank(who);
        try coord.fundTreasury(amount) {
            ghostIn += amount;
        } catch {}
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 400));
    }

    function advance() external {
        uint256 before = coord.currentRound();
        bool wasOpen =
            before != 0 && coord.roundInfo(before).status == IFedCoordinator.RoundStatus.Open;
        try coord.advance() {
            if (wasOpen) ghostFailed += 1;
        } catch {}
    }

    function commit(uint256 seed) external {
        address who = _actor(seed);
        uint256 round = coord.currentRound();
        vm.prank(who);
        try coord.commit(
            round, abi.encodePacked(hex"01551220", keccak256(abi.encode(who, round)))
        ) {
            ghostCommits[round][who] += 1;
        } catch {}
    }

    function vote(uint256 seed, uint8 mode) external {
        address who = _actor(seed);
        bool dissent = mode % 4 == 0; // mostly honest, so rounds do finalize
        uint256 round = coord.currentRound();
        bool wasOpen = coord.roundInfo(round).status == IFedCoordinator.RoundStatus.Open;
        (bytes32 root,) = rewardTree(round);
        address[] memory slash = slashList(round);
        uint256[] memory held = new uint256[](slash.length);
        for (uint256 i; i < slash.length; ++i) {
            held[i] = _held(slash[i]);
        }
        vm.prank(who);
        try coord.submitOutcome(round, dissent ? OTHER : MODEL, root, slash) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
            if (wasOpen && info.status == IFedCoordinator.RoundStatus.Finalized) {
                ghostFinalized += 1;
                if (info.winningWeight * 3 < uint256(info.stakeSnapshot) * 2) {
                    ghostBelowQuorum += 1;
                }
                for (uint256 i; i < slash.length; ++i) {
                    ghostSlashed[slash[i]] += held[i] - _held(slash[i]);
                }
            }
        } catch {}
    }

    function claim(uint256 seed, uint256 roundSeed) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        uint256 round = bound(roundSeed, 1, current);
        uint256 index = bound(seed, 0, actors.length - 1);
        address who = actors[index];
        (, bytes32[] memory leaves) = rewardTree(round);
        uint256 amount = rewardOf(index);
        bytes32[] memory proof = Merkle.proof(leaves, index);
        vm.prank(who);
        try coord.claim(round, amount, proof) {
            ghostOut += amount;
            ghostClaims[round][who] += 1;
        } catch {}
    }

    function claimVoter(uint256 seed, uint256 roundSeed) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        uint256 round = bound(roundSeed, 1, current);
        address who = _actor(seed);
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        try coord.claimVoterReward(round) {
            ghostOut += token.balanceOf(who) - before;
            ghostVoterClaims[round][who] += 1;
        } catch {}
    }

    /* ------------------------------ helpers ------------------------------ */

    /// @dev Every actor gets (index + 1) * 50 tokens; the sum exceeds the contributor pool
    ///      so late claims exercise PoolExhausted.
    function rewardOf(uint256 index) public pure returns (uint256) {
        return (index + 1) * 50e18;
    }

    function rewardTree(uint256 round) public view returns (bytes32 root, bytes32[] memory leaves) {
        leaves = new bytes32[](actors.length);
        for (uint256 i; i < actors.length; ++i) {
            leaves[i] = Merkle.leaf(round, actors[i], rewardOf(i));
        }
        root = Merkle.root(leaves);
    }

    /// @dev Every third round slashes one actor.
    function slashList(uint256 round) public view returns (address[] memory slash) {
        if (round % 3 != 0) return new address[](0);
        slash = new address[](1);
        slash[0] = actors[round % actors.length];
    }

    /// Tokens of `who` in the coordinator: stake plus unbonding.
    function _held(address who) private view returns (uint256) {
        (uint256 s, uint256 unbonding,,,) = coord.stakeInfo(who);
        return s + unbonding;
    }

    function _actor(uint256 seed) private view returns (address) {
        return actors[bound(seed, 0, actors.length - 1)];
    }
}
