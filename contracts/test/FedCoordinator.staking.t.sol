// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

contract UnstakeTest is Fixture {
    function _info(address who)
        internal
        view
        returns (uint256 s, uint256 unbonding, uint256 unlockAt, bool active)
    {
        (s, unbonding, unlockAt, active,) = coord.stakeInfo(who);
    }

    function test_StakeInfo() public {
        (uint256 s, uint256 u, uint256 t, bool active, uint256 from) = coord.stakeInfo(alice);
        vm.assertEq(s + u + t + from, 0);
        vm.assertFalse(active);
        register(alice, 150e18);
        (s, u, t, active, from) = coord.stakeInfo(alice);
        vm.assertEq(s, 150e18);
        vm.assertEq(u, 0);
        vm.assertEq(t, 0);
        vm.assertTrue(active);
        vm.assertEq(from, 1);
    }

    function test_RequestUnstake() public {
        register(alice, 250e18);
        uint64 unlockAt = uint64(block.timestamp) + COOLDOWN;
        vm.expectEmit(address(coord));
        emit IFedCoordinator.UnstakeRequested(alice, 100e18, 150e18, 100e18, unlockAt);
        vm.prank(alice);
        coord.requestUnstake(100e18);
        (uint256 s, uint256 u, uint256 t, bool active) = _info(alice);
        vm.assertEq(s, 150e18);
        vm.assertEq(u, 100e18);
        vm.assertEq(t, unlockAt);
        vm.assertTrue(active);
        vm.assertEq(coord.totalStaked(), 150e18);
        vm.assertEq(coord.totalUnbonding(), 100e18);
        vm.assertEq(coord.activeStake(), 150e18);
        vm.assertEq(token.balanceOf(alice), BALANCE - 250e18);
    }

    function test_RequestUnstakeBelowMinDeactivates() public {
        uint256 round = openRoundWithThree();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Deactivated(alice);
        vm.prank(alice);
        coord.requestUnstake(1);
        (,,, bool active) = _info(alice);
        vm.assertFalse(active);
        vm.assertEq(coord.activeCount(), 2);
        vm.assertEq(coord.activeStake(), 2 * MIN_STAKE);
        // It left the round: no commit, no vote in it any more.
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, alice));
        coord.commit(round, cidOf(alice, round));
    }

    function test_UnstakeMidRoundKeepsWeightAndSnapshot() public {
        register(alice, 300e18);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        uint256 round = coord.advance();
        vm.prank(alice);
        coord.requestUnstake(150e18);
        vm.assertEq(coord.stakeAtOpen(round, alice), 300e18);
        vm.assertEq(coord.roundInfo(round).stakeSnapshot, 500e18);
        commitAs(alice, round);
        vm.warp(coord.roundInfo(round).commitDeadline);
        vote(alice, round, MODEL, bytes32(0));
        (, uint256 weight,) = coord.voteOf(round, alice);
        vm.assertEq(weight, 300e18);
        // The next round counts the reduced stake.
        vote(bob, round, MODEL, bytes32(0));
        afterGrace();
        uint256 next = coord.advance();
        vm.assertEq(coord.roundInfo(next).stakeSnapshot, 350e18);
    }

    function test_UnstakeDuringOpenRoundUnlocksAfterItsVoteDeadline() public {
        coord.setUnstakeCooldown(60);
        uint256 round = openRoundWithThree();
        uint256 deadline = coord.roundInfo(round).voteDeadline;
        vm.prank(alice);
        coord.requestUnstake(MIN_STAKE);
        (,, uint256 unlockAt,) = _info(alice);
        vm.assertEq(unlockAt, deadline);
        vm.warp(deadline - 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.CooldownActive.selector, alice, deadline)
        );
        coord.withdraw();
        vm.warp(deadline);
        vm.prank(alice);
        coord.withdraw();
        vm.assertEq(token.balanceOf(alice), BALANCE);
    }

    function test_SecondRequestMovesUnlockLater() public {
        register(alice, 300e18);
        vm.prank(alice);
        coord.requestUnstake(50e18);
        vm.warp(block.timestamp + 100);
        vm.prank(alice);
        coord.requestUnstake(50e18);
        (uint256 s, uint256 u, uint256 t,) = _info(alice);
        vm.assertEq(s, 200e18);
        vm.assertEq(u, 100e18);
        vm.assertEq(t, block.timestamp + COOLDOWN);
    }

    function test_ShorterCooldownNeverMovesUnlockEarlier() public {
        register(alice, 300e18);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        vm.prank(alice);
        coord.requestUnstake(50e18);
        (,, uint256 first,) = _info(alice);
        coord.setUnstakeCooldown(60);
        coord.advance(); // puts the shorter cool-down in force
        vm.assertEq(coord.params().unstakeCooldown, 60);
        vm.prank(alice);
        coord.requestUnstake(50e18);
        (,, uint256 second,) = _info(alice);
        vm.assertEq(second, first);
    }

    function test_RevertWhen_RequestUnstakeZero() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.AmountZero.selector);
        coord.requestUnstake(0);
    }

    function test_RevertWhen_RequestUnstakeUnregistered() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotRegistered.selector, alice));
        coord.requestUnstake(1);
    }

    function test_RevertWhen_RequestUnstakeMoreThanStake() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.InsufficientStake.selector, MIN_STAKE + 1, MIN_STAKE
            )
        );
        coord.requestUnstake(MIN_STAKE + 1);
    }

    function test_Withdraw() public {
        register(alice, 250e18);
        vm.prank(alice);
        coord.requestUnstake(100e18);
        vm.warp(block.timestamp + COOLDOWN);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Withdrawn(alice, 100e18);
        vm.prank(alice);
        coord.withdraw();
        vm.assertEq(token.balanceOf(alice), BALANCE - 150e18);
        (uint256 s, uint256 u,,) = _info(alice);
        vm.assertEq(s, 150e18);
        vm.assertEq(u, 0);
        vm.assertEq(coord.totalUnbonding(), 0);
        vm.assertEq(token.balanceOf(address(coord)), TREASURY + 150e18);
    }

    function test_RevertWhen_WithdrawDuringCooldown() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        coord.requestUnstake(MIN_STAKE);
        uint256 unlockAt = block.timestamp + COOLDOWN;
        vm.warp(unlockAt - 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.CooldownActive.selector, alice, unlockAt)
        );
        coord.withdraw();
    }

    function test_RevertWhen_WithdrawNothing() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NothingToWithdraw.selector, alice));
        coord.withdraw();
        vm.prank(alice);
        coord.requestUnstake(MIN_STAKE);
        vm.warp(block.timestamp + COOLDOWN);
        vm.prank(alice);
        coord.withdraw();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NothingToWithdraw.selector, alice));
        coord.withdraw();
    }

    function test_FullExitThenRejoinByStaking() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        coord.requestUnstake(MIN_STAKE);
        (,,, bool active) = _info(alice);
        vm.assertFalse(active);
        vm.prank(alice);
        coord.stake(MIN_STAKE);
        (uint256 s, uint256 u,, bool again) = _info(alice);
        vm.assertTrue(again);
        vm.assertEq(s, MIN_STAKE);
        vm.assertEq(u, MIN_STAKE);
    }

    /// Tokens requested out mid-round are slashed for that round; the slashed part is gone.
    function test_SlashReachesStakeRequestedOutMidRound() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vm.prank(carol);
        coord.requestUnstake(MIN_STAKE); // tries to run before the slash lands
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        uint256 slashed = MIN_STAKE * SLASH_BPS / 10_000;
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Slashed(round, carol, slashed);
        voteSlash(bob, round, bytes32(0), slash);

        (uint256 s, uint256 u,,) = _info(carol);
        vm.assertEq(s, 0);
        vm.assertEq(u, MIN_STAKE - slashed);
        vm.assertEq(coord.totalUnbonding(), MIN_STAKE - slashed);
        vm.warp(block.timestamp + COOLDOWN);
        vm.prank(carol);
        coord.withdraw();
        vm.assertEq(token.balanceOf(carol), BALANCE - slashed);
    }

    /// A slash takes from the stake first and never more than the stake that took part.
    function test_SlashSparesUnbondingFromBeforeTheRound() public {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, 300e18);
        vm.prank(carol);
        coord.requestUnstake(100e18); // before round 1: not part of it
        uint256 round = coord.advance();
        vm.assertEq(coord.stakeAtOpen(round, carol), 200e18);
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        voteSlash(carol, round, bytes32(0), slash); // 400 staked: needs all three
        (uint256 s, uint256 u,,) = _info(carol);
        vm.assertEq(s, 100e18);
        vm.assertEq(u, 100e18);
    }

    /// A participant that registered during the round had no stake in it: nothing to slash.
    function test_SlashIgnoresStakeAddedAfterOpening() public {
        uint256 round = openRoundWithThree();
        register(dave, MIN_STAKE);
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = dave;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        (uint256 s,,,) = _info(dave);
        vm.assertEq(s, MIN_STAKE);
    }
}

contract AdminTest is Fixture {
    address internal mallory = vm.addr(0xBAD);

    function test_SetMinStake() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("minStake", MIN_STAKE, 5e18);
        coord.setMinStake(5e18);
        vm.assertEq(coord.pendingParams().minStake, 5e18);
        vm.assertEq(coord.params().minStake, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.StakeTooLow.selector, 5e18, MIN_STAKE)
        );
        coord.register(5e18, PEER, addrs1());
        openRoundWithThree();
        vm.assertEq(coord.params().minStake, 5e18);
        register(dave, 5e18);
        _expectRange("minStake", 0, 1, 1e30);
        coord.setMinStake(0);
        _expectRange("minStake", 1e30 + 1, 1, 1e30);
        coord.setMinStake(1e30 + 1);
        _expectOwner();
        coord.setMinStake(1);
    }

    function test_SetCommitWindowAppliesToNextRound() public {
        uint256 round = openRoundWithThree();
        uint256 deadline = coord.roundInfo(round).commitDeadline;
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("commitWindow", COMMIT_WINDOW, 100);
        coord.setCommitWindow(100);
        vm.assertEq(coord.roundInfo(round).commitDeadline, deadline);
        vm.warp(coord.roundInfo(round).voteDeadline);
        coord.advance();
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round + 1);
        vm.assertEq(info.commitDeadline, info.openedAt + 100);
        _expectRange("commitWindow", 9, 10, 30 days);
        coord.setCommitWindow(9);
        _expectRange("commitWindow", 30 days + 1, 10, 30 days);
        coord.setCommitWindow(30 days + 1);
        _expectOwner();
        coord.setCommitWindow(100);
    }

    function test_SetVoteWindow() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("voteWindow", VOTE_WINDOW, 30 days);
        coord.setVoteWindow(30 days);
        vm.assertEq(coord.params().voteWindow, VOTE_WINDOW);
        vm.assertEq(coord.pendingParams().voteWindow, 30 days);
        uint256 round = openRoundWithThree();
        vm.assertEq(coord.params().voteWindow, 30 days);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.voteDeadline, info.commitDeadline + 30 days);
        _expectRange("voteWindow", 9, 10, 30 days);
        coord.setVoteWindow(9);
        _expectRange("voteWindow", 30 days + 1, 10, 30 days);
        coord.setVoteWindow(30 days + 1);
        _expectOwner();
        coord.setVoteWindow(100);
    }

    function test_SetRewardPerRound() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("rewardPerRound", REWARD, 0);
        coord.setRewardPerRound(0);
        finalizeRoundOne(bytes32(0));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(1);
        vm.assertEq(info.contributorPool + info.voterPool, 0);
        vm.assertEq(coord.treasury(), TREASURY);
        _expectRange("rewardPerRound", 1e30 + 1, 0, 1e30);
        coord.setRewardPerRound(1e30 + 1);
        _expectOwner();
        coord.setRewardPerRound(1);
    }

    function test_SetVoterShareBps() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("voterShareBps", VOTER_BPS, 5000);
        coord.setVoterShareBps(5000);
        finalizeRoundOne(bytes32(0));
        vm.assertEq(coord.roundInfo(1).voterPool, REWARD / 2);
        _expectRange("voterShareBps", 5001, 0, 5000);
        coord.setVoterShareBps(5001);
        _expectOwner();
        coord.setVoterShareBps(1);
    }

    function test_SetSlashBps() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("slashBps", SLASH_BPS, 1000);
        coord.setSlashBps(1000);
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        (uint256 s,,,) = coord.participant(carol);
        vm.assertEq(s, MIN_STAKE - MIN_STAKE / 10);
        _expectRange("slashBps", 5001, 0, 5000);
        coord.setSlashBps(5001);
        _expectOwner();
        coord.setSlashBps(1);
    }

    function test_SetMinParticipants() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("minParticipants", MIN_PARTICIPANTS, 1);
        coord.setMinParticipants(1);
        register(alice, MIN_STAKE);
        vm.assertEq(coord.advance(), 1);
        _expectRange("minParticipants", 0, 1, 1000);
        coord.setMinParticipants(0);
        _expectRange("minParticipants", 1001, 1, 1000);
        coord.setMinParticipants(1001);
        _expectOwner();
        coord.setMinParticipants(2);
    }

    function test_SetUnstakeCooldown() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("unstakeCooldown", COOLDOWN, 90 days);
        coord.setUnstakeCooldown(90 days);
        vm.assertEq(coord.params().unstakeCooldown, COOLDOWN);
        vm.assertEq(coord.pendingParams().unstakeCooldown, 90 days);
        _expectRange("unstakeCooldown", 59, 60, 90 days);
        coord.setUnstakeCooldown(59);
        _expectRange("unstakeCooldown", 90 days + 1, 60, 90 days);
        coord.setUnstakeCooldown(90 days + 1);
        _expectOwner();
        coord.setUnstakeCooldown(60);
    }

    function test_RevertWhen_RenounceOwnership() public {
        vm.expectRevert(IFedCoordinator.RenounceDisabled.selector);
        coord.renounceOwnership();
        vm.assertEq(coord.owner(), address(this));
    }

    function test_NewOwnerAdministers() public {
        coord.transferOwnership(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, bob));
        vm.prank(bob);
        coord.acceptOwnership();
        vm.prank(alice);
        coord.acceptOwnership();
        vm.prank(alice);
        coord.setSlashBps(1);
        vm.expectRevert(
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this))
        );
        coord.setSlashBps(2);
    }

    /// Pausing stops new rounds only: the open round completes, claims and exits go on.
    function test_PauseStopsOnlyNewRounds() public {
        uint256 round = openRoundWithThree();
        coord.pause();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory who = new address[](1);
        who[0] = alice;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 10e18;
        bytes32[] memory leaves = rewardLeaves(round, who, amounts);
        vote(alice, round, MODEL, Merkle.root(leaves));
        vote(bob, round, MODEL, Merkle.root(leaves));
        vm.assertEq(
            uint256(coord.roundInfo(round).status), uint256(IFedCoordinator.RoundStatus.Finalized)
        );
        vm.prank(alice);
        coord.claim(round, 10e18, Merkle.proof(leaves, 0));
        vm.prank(bob);
        coord.requestUnstake(1);
        vm.prank(dave);
        coord.register(MIN_STAKE, PEER, addrs1());
        vm.warp(block.timestamp + COOLDOWN);
        vm.prank(bob);
        coord.withdraw();
        vm.prank(alice);
        coord.claimVoterReward(round);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        coord.advance();
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
