// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Test.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice Voter accountability (`lastVotedRound`, `missedRounds`, `reportInactive`) and
///         slashing restricted to the round's committers.
contract InactivityTest is Fixture {
    uint256 internal constant ALICE = 1;
    uint256 internal constant BOB = 2;
    uint256 internal constant CAROL = 4;
    uint256 internal constant DAVE = 8;

    /// alice, bob, carol and dave with equal stakes; no round yet.
    function _registerFour() internal {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        register(dave, MIN_STAKE);
    }

    /// Opens the next round; the accounts in `mask` vote in it; its vote window then ends.
    function _round(uint256 mask) internal returns (uint256 round) {
        round = coord.advance();
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.warp(info.commitDeadline);
        address[4] memory who = [alice, bob, carol, dave];
        for (uint256 i; i < 4; ++i) {
            if (mask & (1 << i) != 0) vote(who[i], round, MODEL, bytes32(0));
        }
        vm.warp(info.voteDeadline);
    }

    function test_MissedRoundsCountsSettledRoundsWithoutAVote() public {
        _registerFour();
        vm.assertEq(coord.missedRounds(dave), 0);
        _round(ALICE | BOB | CAROL);
        vm.assertEq(coord.missedRounds(dave), 0); // round 1 is still current
        _round(ALICE | BOB | CAROL);
        vm.assertEq(coord.missedRounds(dave), 1);
        vm.assertEq(coord.missedRounds(alice), 0);
        vm.assertEq(coord.lastVotedRound(alice), 2);
        vm.assertEq(coord.lastVotedRound(dave), 0);
        _round(DAVE); // a vote in a round that fails still counts
        coord.advance();
        vm.assertEq(coord.missedRounds(dave), 0);
        vm.assertEq(coord.missedRounds(alice), 1);
        vm.assertEq(coord.lastVotedRound(dave), 3);
    }

    function test_MissedRoundsZeroForInactiveOrUnknown() public {
        _registerFour();
        vm.assertEq(coord.missedRounds(vm.addr(0xBAD)), 0);
        for (uint256 i; i < 3; ++i) {
            _round(ALICE | BOB | CAROL);
        }
        vm.assertEq(coord.missedRounds(dave), 2);
        vm.prank(dave);
        coord.requestUnstake(1); // below the minimum: inactive
        vm.assertEq(coord.missedRounds(dave), 0);
    }

    /// A participant that joins later only misses rounds it was eligible for.
    function test_LateJoinerStartsAtZero() public {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        _round(ALICE | BOB | CAROL);
        _round(ALICE | BOB | CAROL);
        register(dave, MIN_STAKE); // eligible from round 3
        _round(ALICE | BOB | CAROL);
        vm.assertEq(coord.missedRounds(dave), 0); // round 2 settled, before dave
        _round(ALICE | BOB | CAROL);
        vm.assertEq(coord.missedRounds(dave), 1); // round 3
    }

    function test_RevertWhen_ReportNotInactive() public {
        _registerFour();
        for (uint256 i; i < INACTIVITY_ROUNDS; ++i) {
            _round(ALICE | BOB | CAROL);
        }
        vm.assertEq(coord.missedRounds(dave), INACTIVITY_ROUNDS - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.NotInactive.selector, dave, INACTIVITY_ROUNDS - 1, INACTIVITY_ROUNDS
            )
        );
        coord.reportInactive(dave);
    }

    function test_ReportInactiveLeaksAndDeactivates() public {
        _registerFour();
        for (uint256 i; i < INACTIVITY_ROUNDS; ++i) {
            _round(ALICE | BOB | CAROL);
        }
        uint256 round = coord.advance(); // open: dave is in its snapshot
        vm.assertEq(coord.missedRounds(dave), INACTIVITY_ROUNDS);
        uint256 leak = MIN_STAKE * LEAK_BPS / 10_000;
        uint256 treasuryBefore = coord.treasury();
        uint256 stakedBefore = coord.totalStaked();
        uint256 activeBefore = coord.activeStake();

        vm.expectEmit(address(coord));
        emit IFedCoordinator.Deactivated(dave);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ReportedInactive(dave, alice, INACTIVITY_ROUNDS, leak);
        vm.prank(alice);
        coord.reportInactive(dave);

        (uint256 s,,, bool active) = coord.participant(dave);
        vm.assertEq(s, MIN_STAKE - leak);
        vm.assertFalse(active);
        vm.assertEq(coord.treasury(), treasuryBefore + leak);
        vm.assertEq(coord.totalStaked(), stakedBefore - leak);
        vm.assertEq(coord.activeStake(), activeBefore - MIN_STAKE);
        vm.assertEq(coord.activeCount(), 3);
        vm.assertEq(coord.stakeAtOpen(round, dave), MIN_STAKE); // the checkpoint holds
        vm.assertEq(coord.missedRounds(dave), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotInactive.selector, dave, 0, INACTIVITY_ROUNDS)
        );
        coord.reportInactive(dave);
        // It cannot take part in the current round any more either.
        vm.prank(dave);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, dave));
        coord.commit(round, cidOf(dave, round));
    }

    /// Staking again reactivates from the next round and restarts the count.
    function test_RestakeAfterReportRestartsCount() public {
        _registerFour();
        for (uint256 i; i <= INACTIVITY_ROUNDS; ++i) {
            _round(ALICE | BOB | CAROL);
        }
        coord.reportInactive(dave);
        uint256 round = coord.currentRound();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Activated(dave, round + 1);
        vm.prank(dave);
        coord.stake(MIN_STAKE);
        vm.assertEq(coord.missedRounds(dave), 0);
        _round(ALICE | BOB | CAROL); // round + 1: dave's first round back
        vm.assertEq(coord.missedRounds(dave), 0);
        _round(ALICE | BOB | CAROL);
        vm.assertEq(coord.missedRounds(dave), 1);
    }

    function test_ZeroLeakStillDeactivates() public {
        coord.setInactivityLeakBps(0);
        coord.setInactivityRounds(1);
        _registerFour();
        _round(ALICE | BOB | CAROL);
        _round(ALICE | BOB | CAROL);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ReportedInactive(dave, address(this), 1, 0);
        coord.reportInactive(dave);
        (uint256 s,,, bool active) = coord.participant(dave);
        vm.assertEq(s, MIN_STAKE);
        vm.assertFalse(active);
    }
}

contract SlashCommittersTest is Fixture {
    /// Carol is eligible but withholds her update: listing her slashes nothing.
    function test_NonCommitterNotSlashed() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        vm.warp(coord.roundInfo(round).commitDeadline);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        vm.recordLogs();
        voteSlash(alice, round, keccak256("root"), slash);
        voteSlash(bob, round, keccak256("root"), slash);
        vm.assertEq(
            uint256(coord.roundInfo(round).status), uint256(IFedCoordinator.RoundStatus.Finalized)
        );
        (uint256 s,,, bool active) = coord.participant(carol);
        vm.assertEq(s, MIN_STAKE);
        vm.assertTrue(active);
        vm.assertEq(coord.treasury(), TREASURY - REWARD);
        _assertNoSlashed();
    }

    /// Dave registered after the opening (outside the snapshot): never slashed by the round.
    function test_AccountOutsideSnapshotNotSlashed() public {
        uint256 round = openRoundWithThree();
        register(dave, MIN_STAKE);
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = dave;
        vm.recordLogs();
        voteSlash(alice, round, keccak256("root"), slash);
        voteSlash(bob, round, keccak256("root"), slash);
        (uint256 s,,,) = coord.participant(dave);
        vm.assertEq(s, MIN_STAKE);
        _assertNoSlashed();
    }

    /// A committer who unstaked everything mid-round is slashed from the unbonding tokens.
    function test_CommitterSlashedOnceFromOpeningStake() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vm.prank(carol);
        coord.requestUnstake(MIN_STAKE);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, keccak256("root"), slash);
        voteSlash(bob, round, keccak256("root"), slash);
        (, uint256 unbonding,,,) = coord.stakeInfo(carol);
        vm.assertEq(unbonding, MIN_STAKE - MIN_STAKE * SLASH_BPS / 10_000);
    }

    function _assertNoSlashed() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            vm.assertTrue(logs[i].topics[0] != IFedCoordinator.Slashed.selector, "slashed");
        }
    }
}
