// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Test.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice Staged parameters: setters write a pending copy that the next opening applies.
contract StagedParamsTest is Fixture {
    address internal mallory = vm.addr(0xBAD);

    function _hash(IFedCoordinator.Params memory p) internal pure returns (bytes32) {
        return keccak256(abi.encode(p));
    }

    function test_NewSettersStageAndApplyAtOpening() public {
        uint256 round = openRoundWithThree();
        IFedCoordinator.Params memory before = coord.params();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("lateVoteGrace", GRACE, 40);
        coord.setLateVoteGrace(40);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("claimPeriod", CLAIM_PERIOD, 2 days);
        coord.setClaimPeriod(2 days);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("inactivityRounds", INACTIVITY_ROUNDS, 7);
        coord.setInactivityRounds(7);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("inactivityLeakBps", LEAK_BPS, 250);
        coord.setInactivityLeakBps(250);

        vm.assertEq(_hash(coord.params()), _hash(before));
        IFedCoordinator.Params memory pending = coord.pendingParams();
        vm.assertEq(pending.lateVoteGrace, 40);
        vm.assertEq(pending.claimPeriod, 2 days);
        vm.assertEq(pending.inactivityRounds, 7);
        vm.assertEq(pending.inactivityLeakBps, 250);

        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamsApplied(round + 1);
        coord.advance();
        vm.assertEq(_hash(coord.params()), _hash(pending));
        vm.assertEq(_hash(coord.pendingParams()), _hash(pending));
    }

    /// The old value in `ParamUpdated` is the pending one; the last setter call wins.
    function test_LaterSetterOverridesPending() public {
        coord.setSlashBps(100);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("slashBps", 100, 200);
        coord.setSlashBps(200);
        openRoundWithThree();
        vm.assertEq(coord.params().slashBps, 200);
    }

    function test_NoParamsAppliedWithoutChange() public {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        vm.recordLogs();
        coord.advance();
        _assertNoParamsApplied();
        coord.setVoteWindow(VOTE_WINDOW + 1);
        vm.warp(coord.roundInfo(1).voteDeadline);
        coord.advance();
        vm.warp(coord.roundInfo(2).voteDeadline);
        vm.recordLogs();
        coord.advance(); // applied once already
        _assertNoParamsApplied();
    }

    function _assertNoParamsApplied() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            vm.assertTrue(logs[i].topics[0] != IFedCoordinator.ParamsApplied.selector);
        }
    }

    /// The slash share cannot change under an open round: the opening's share applies.
    function test_SlashBpsFixedWithinRound() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        coord.setSlashBps(1000);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Slashed(round, carol, MIN_STAKE * SLASH_BPS / 10_000);
        voteSlash(bob, round, bytes32(0), slash);
    }

    /// `advance` checks the staged `minParticipants`, the one the round would open with.
    function test_AdvanceChecksStagedMinParticipants() public {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        coord.setMinParticipants(4);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotEnoughParticipants.selector, 3, 4)
        );
        coord.advance();
        vm.assertEq(coord.params().minParticipants, MIN_PARTICIPANTS);
        coord.setMinParticipants(2);
        vm.assertEq(coord.advance(), 1);
        vm.assertEq(coord.params().minParticipants, 2);
    }

    /// Nothing is applied by an `advance` that only fails an expired round.
    function test_FailingAdvanceAppliesNothing() public {
        uint256 round = openRoundWithThree();
        vm.prank(carol);
        coord.requestUnstake(MIN_STAKE); // two active: the next round cannot open
        coord.setVoteWindow(1000);
        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.assertEq(coord.advance(), round);
        vm.assertEq(coord.params().voteWindow, VOTE_WINDOW);
        vm.assertEq(coord.pendingParams().voteWindow, 1000);
    }

    function test_NewSettersBoundsAndOwner() public {
        _expectRange("lateVoteGrace", 30 days + 1, 0, 30 days);
        coord.setLateVoteGrace(30 days + 1);
        _expectOwner();
        coord.setLateVoteGrace(0);
        _expectRange("claimPeriod", 59, 60, 365 days);
        coord.setClaimPeriod(59);
        _expectRange("claimPeriod", 365 days + 1, 60, 365 days);
        coord.setClaimPeriod(365 days + 1);
        _expectOwner();
        coord.setClaimPeriod(60);
        _expectRange("inactivityRounds", 0, 1, 1000);
        coord.setInactivityRounds(0);
        _expectRange("inactivityRounds", 1001, 1, 1000);
        coord.setInactivityRounds(1001);
        _expectOwner();
        coord.setInactivityRounds(1);
        _expectRange("inactivityLeakBps", 1001, 0, 1000);
        coord.setInactivityLeakBps(1001);
        _expectOwner();
        coord.setInactivityLeakBps(0);
        // Nothing was staged by the failed calls.
        vm.assertEq(_hash(coord.pendingParams()), _hash(defaultParams()));
    }

    function _expectRange(string memory name, uint256 value, uint256 min, uint256 max) private {
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.ParamOutOfRange.selector, name, value, min, max)
        );
    }

    function _expectOwner() private {
        vm.prank(mallory);
        vm.expectRevert(
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, mallory)
        );
    }
}
