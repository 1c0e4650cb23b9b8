// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice Fuzzing of unstaking against slashing: stake sizes, unstake amounts before,
///         during and after the slashed round, top-ups, slash fraction, cool-down length and
///         the moment a withdrawal is attempted. Whatever the order, the slash takes exactly
///         `slashBps` of the stake that took part, a slashed token is never withdrawable, and
///         every token stays accounted for.
contract FedCoordinatorUnstakeFuzzTest is Fixture {
    /// One fuzz case. A struct keeps the stack small (no via-IR).
    struct Case {
        uint256 staked; // carol's registration
        uint256 outBefore; // requested out before the round opens (not slashable for it)
        uint256 topUp; // added while the round is open (or after the slash)
        uint256 outDuring; // requested out while the round is open (or after the slash)
        uint256 bps; // slash fraction
        uint256 cooldown; // unstake cool-down
        uint256 tryAt; // offset of a withdraw attempt inside the round
        bool afterSlash; // top-up and second unstake after finalization instead of during
    }

    uint256 internal round;
    uint256 internal withdrawn;
    bool internal committed; // carol committed in the round (a stack slot too many otherwise)

    function _info(address who) internal view returns (uint256 s, uint256 u, uint256 unlockAt) {
        (s, u, unlockAt,,) = coord.stakeInfo(who);
    }

    function _held(address who) internal view returns (uint256) {
        (uint256 s, uint256 u,) = _info(who);
        return s + u;
    }

    /// balance == totalStaked + totalUnbonding + treasury + unclaimed pools (one round).
    function _assertConserved() internal view {
        uint256 pools;
        if (round != 0) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
            pools = info.contributorPool + info.voterPool - info.contributorClaimed
                - info.voterClaimed;
        }
        vm.assertEq(
            token.balanceOf(address(coord)),
            coord.totalStaked() + coord.totalUnbonding() + coord.treasury() + pools,
            "conservation"
        );
    }

    /// Carol withdraws if she can; tracks what left. Reverts exactly while locked.
    function _tryWithdraw() internal {
        (, uint256 u, uint256 unlockAt) = _info(carol);
        uint256 before = token.balanceOf(carol);
        if (u == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IFedCoordinator.NothingToWithdraw.selector, carol)
            );
            vm.prank(carol);
            coord.withdraw();
        } else if (block.timestamp < unlockAt) {
            vm.expectRevert(
                abi.encodeWithSelector(IFedCoordinator.CooldownActive.selector, carol, unlockAt)
            );
            vm.prank(carol);
            coord.withdraw();
            vm.assertEq(token.balanceOf(carol), before);
        } else {
            vm.prank(carol);
            coord.withdraw();
            vm.assertEq(token.balanceOf(carol), before + u, "withdraw pays all unbonding");
            withdrawn += u;
        }
        _assertConserved();
    }

    function _unstake(uint256 amount) internal {
        if (amount == 0) return;
        vm.prank(carol);
        coord.requestUnstake(amount);
    }

    function _topUp(uint256 amount) internal {
        if (amount == 0) return;
        vm.prank(carol);
        coord.stake(amount);
    }

    function _bound(Case memory c) internal pure {
        c.staked = bound(c.staked, MIN_STAKE, BALANCE);
        c.outBefore = bound(c.outBefore, 0, c.staked);
        c.topUp = bound(c.topUp, 0, BALANCE - c.staked);
        c.bps = bound(c.bps, 0, 5000);
        c.cooldown = bound(c.cooldown, 60, 2 * (COMMIT_WINDOW + VOTE_WINDOW));
    }

    /// alice, bob and dave vote to slash carol (their stakes outweigh hers: quorum without her).
    function _finalizeSlashingCarol() internal {
        address[] memory slash = new address[](1);
        slash[0] = carol;
        address[3] memory voters = [alice, bob, dave];
        for (uint256 i; i < voters.length; ++i) {
            voteSlash(voters[i], round, keccak256("rewards"), slash);
            if (coord.roundInfo(round).status == IFedCoordinator.RoundStatus.Finalized) return;
        }
        revert("round did not finalize");
    }

    function testFuzz_SlashedNeverWithdrawable(Case memory c) public {
        _bound(c);
        coord.setSlashBps(uint16(c.bps));
        coord.setUnstakeCooldown(uint64(c.cooldown));
        register(alice, BALANCE);
        register(bob, BALANCE);
        register(dave, BALANCE);
        register(carol, c.staked);
        _unstake(c.outBefore);
        _assertConserved();

        round = coord.advance();
        uint256 atOpen = c.staked - c.outBefore;
        vm.assertEq(coord.stakeAtOpen(round, carol), atOpen);
        // Carol's update is malformed: she gets slashed, if she was eligible to commit (an
        // unstake before the opening may have left her below the minimum stake).
        committed = atOpen >= MIN_STAKE;
        commitAs(alice, round);
        commitAs(bob, round);
        if (committed) commitAs(carol, round);
        commitAs(dave, round);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);

        if (!c.afterSlash) {
            _topUp(c.topUp);
            (uint256 s,,) = _info(carol);
            c.outDuring = bound(c.outDuring, 0, s);
            _unstake(c.outDuring);
            if (c.outDuring != 0) {
                (,, uint256 unlockAt) = _info(carol);
                vm.assertGe(unlockAt, info.voteDeadline); // stake of an open round stays locked
            }
        }

        // A withdraw attempt anywhere before the slash can land (inside the round).
        vm.warp(bound(c.tryAt, block.timestamp, info.voteDeadline - 1));
        _tryWithdraw();
        if (!c.afterSlash && c.outDuring != 0) vm.assertEq(withdrawn, 0, "escaped the slash");

        uint256 opensAt = info.closedAt != 0 ? info.closedAt : info.commitDeadline;
        if (block.timestamp < opensAt) vm.warp(opensAt);
        uint256 heldBefore = _held(carol);
        uint256 treasuryBefore = coord.treasury();
        (, uint256 unbondingBefore,) = _info(carol);
        _finalizeSlashingCarol();

        uint256 slashed = committed ? atOpen * c.bps / 10_000 : 0;
        vm.assertEq(coord.treasury() - treasuryBefore, slashed, "treasury gets the slash");
        vm.assertEq(heldBefore - _held(carol), slashed, "exactly the slash left carol");
        (uint256 sNow, uint256 uNow,) = _info(carol);
        // Unbonding from before the round was not at stake in it: the slash spares it.
        vm.assertGe(uNow, c.outBefore > withdrawn ? c.outBefore - withdrawn : 0);
        vm.assertLe(unbondingBefore - uNow, c.afterSlash ? 0 : c.outDuring);
        _assertConserved();

        if (c.afterSlash) {
            _topUp(c.topUp);
            (uint256 s,,) = _info(carol);
            c.outDuring = bound(c.outDuring, 0, s);
            _unstake(c.outDuring);
            (sNow, uNow,) = _info(carol);
        }

        // Carol leaves: everything she can get out, as early as she can.
        _tryWithdraw();
        _unstake(sNow);
        (,, uint256 finalUnlock) = _info(carol);
        if (finalUnlock > block.timestamp) {
            vm.warp(finalUnlock - 1);
            if (_held(carol) != 0) _tryWithdraw(); // still locked one second before
            vm.warp(finalUnlock);
        }
        _tryWithdraw();
        vm.assertEq(_held(carol), 0);
        vm.assertEq(token.balanceOf(carol), BALANCE - slashed, "slashed tokens never came out");
        vm.assertEq(withdrawn, c.staked + c.topUp - slashed);
        _assertConserved();
    }

    /// Several unstake requests share one unlock time that only moves later, and a request
    /// during a round never unlocks before that round's vote deadline.
    function testFuzz_UnlockOnlyMovesLater(
        uint256 first,
        uint256 second,
        uint256 gap,
        uint256 cooldown,
        bool midRound
    ) public {
        cooldown = bound(cooldown, 60, 7200);
        coord.setUnstakeCooldown(uint64(cooldown));
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(dave, MIN_STAKE);
        register(carol, BALANCE);
        first = bound(first, 1, BALANCE - 1);
        second = bound(second, 1, BALANCE - first);
        // The opening applies the staged cool-down; outside a round, wait for it to expire.
        round = coord.advance();
        uint256 deadline = coord.roundInfo(round).voteDeadline;
        if (!midRound) {
            vm.warp(deadline);
            deadline = 0;
        }
        _unstake(first);
        (,, uint256 unlock1) = _info(carol);
        vm.assertEq(unlock1, _max(block.timestamp + cooldown, deadline));

        // Shorter cool-down (in force from the next opening) and a later request: the
        // unlock time never moves earlier.
        coord.setUnstakeCooldown(60);
        vm.warp(block.timestamp + bound(gap, 0, 2 * cooldown));
        if (block.timestamp >= coord.roundInfo(round).voteDeadline) {
            round = coord.advance(); // fails the expired round, opens the next one
        }
        deadline = _openDeadline();
        _unstake(second);
        (, uint256 u, uint256 unlock2) = _info(carol);
        vm.assertEq(u, first + second);
        uint256 cd = coord.params().unstakeCooldown;
        vm.assertEq(unlock2, _max(unlock1, _max(block.timestamp + cd, deadline)));
        if (block.timestamp < unlock2) {
            _tryWithdraw();
            vm.assertEq(withdrawn, 0);
            vm.warp(unlock2);
        }
        _tryWithdraw();
        vm.assertEq(withdrawn, first + second);
        vm.assertEq(token.balanceOf(carol), first + second);
    }

    function _openDeadline() internal view returns (uint256) {
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(coord.currentRound());
        return info.status == IFedCoordinator.RoundStatus.Open ? info.voteDeadline : 0;
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
