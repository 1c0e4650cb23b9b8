// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice Fuzzing of the claim period and sweep (no value stuck, nothing created) and of
///         the inactivity count.
contract FedCoordinatorSettlementFuzzTest is Fixture {
    bytes32[] internal leaves;
    uint256[3] internal amounts;
    uint256 internal paid;

    function _claimContributor(uint256 i, address who) internal {
        if (amounts[i] == 0) return;
        vm.prank(who);
        coord.claim(1, amounts[i], Merkle.proof(leaves, i));
        paid += amounts[i];
    }

    function _claimVoter(address who) internal {
        (bytes16 key,,) = coord.voteOf(1, who);
        if (key != coord.roundInfo(1).outcomeKey) return;
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        coord.claimVoterReward(1);
        paid += token.balanceOf(who) - before;
    }

    /// Whatever was allocated, claimed or left, after the sweep every token of the round's
    /// pools is either paid out or back in the treasury, and the contract's balance is
    /// exactly stakes + unbonding + treasury.
    function testFuzz_SweepConserves(
        uint256 reward,
        uint256 a,
        uint256 b,
        uint256 c,
        uint256 claimMask,
        bool carolVotes
    ) public {
        reward = bound(reward, 0, TREASURY);
        coord.setRewardPerRound(reward);
        uint256 pool = reward - reward * VOTER_BPS / 10_000;
        amounts[0] = bound(a, 0, pool / 3);
        amounts[1] = bound(b, 0, pool / 3);
        amounts[2] = bound(c, 0, pool / 3);
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (alice, bob, carol);
        uint256[] memory amts = new uint256[](3);
        (amts[0], amts[1], amts[2]) = (amounts[0], amounts[1], amounts[2]);
        leaves = rewardLeaves(1, who, amts);

        uint256 round = finalizeRoundOne(Merkle.root(leaves));
        if (carolVotes) vote(carol, round, MODEL, Merkle.root(leaves));
        vm.warp(coord.roundInfo(round).voteDeadline);
        if (claimMask & 1 != 0) _claimContributor(0, alice);
        if (claimMask & 2 != 0) _claimContributor(1, bob);
        if (claimMask & 4 != 0) _claimContributor(2, carol);
        if (claimMask & 8 != 0) _claimVoter(alice);
        if (claimMask & 16 != 0) _claimVoter(bob);
        if (claimMask & 32 != 0) _claimVoter(carol);

        vm.warp(coord.claimDeadline(round));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        uint256 left =
            info.contributorPool + info.voterPool - info.contributorClaimed - info.voterClaimed;
        vm.assertEq(left + paid, reward, "pools = paid + left");
        if (left == 0) {
            vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NothingToSweep.selector, round));
        }
        coord.sweep(round);

        vm.assertEq(coord.treasury(), TREASURY - paid, "treasury gets everything unpaid");
        vm.assertEq(
            token.balanceOf(address(coord)),
            coord.totalStaked() + coord.totalUnbonding() + coord.treasury(),
            "conservation"
        );
        info = coord.roundInfo(round);
        vm.assertEq(info.contributorClaimed, info.contributorPool);
        vm.assertEq(info.voterClaimed, info.voterPool);
    }

    /// `missedRounds` is the number of settled rounds since the last vote, and
    /// `reportInactive` succeeds exactly when it reaches `inactivityRounds`.
    function testFuzz_MissedRounds(uint256 n, uint256 votes) public {
        n = bound(n, 1, 12);
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        register(dave, MIN_STAKE);
        uint256 last;
        for (uint256 r = 1; r <= n; ++r) {
            vm.assertEq(coord.advance(), r);
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            vm.warp(info.commitDeadline);
            if (votes & (1 << r) != 0) {
                vote(dave, r, MODEL, bytes32(0));
                last = r;
            }
            vote(alice, r, MODEL, bytes32(0));
            vote(bob, r, MODEL, bytes32(0));
            vote(carol, r, MODEL, bytes32(0));
            vm.assertEq(coord.lastVotedRound(dave), last);
            vm.warp(info.voteDeadline);
        }
        uint256 expected = n - 1 > last ? n - 1 - last : 0;
        vm.assertEq(coord.missedRounds(dave), expected);
        if (expected < INACTIVITY_ROUNDS) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IFedCoordinator.NotInactive.selector, dave, expected, INACTIVITY_ROUNDS
                )
            );
        }
        coord.reportInactive(dave);
        (,,, bool active) = coord.participant(dave);
        vm.assertEq(active, expected < INACTIVITY_ROUNDS);
    }
}
