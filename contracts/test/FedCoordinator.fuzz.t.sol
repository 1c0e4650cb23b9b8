// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

contract FedCoordinatorFuzzTest is Fixture {
    /// Registration succeeds exactly when the stake reaches the minimum, and moves it in.
    function testFuzz_RegisterStake(uint256 amount) public {
        amount = bound(amount, 0, BALANCE);
        if (amount < MIN_STAKE) {
            vm.expectRevert(
                abi.encodeWithSelector(IFedCoordinator.StakeTooLow.selector, amount, MIN_STAKE)
            );
            register(alice, amount);
            return;
        }
        register(alice, amount);
        (uint256 s,,, bool active) = coord.participant(alice);
        vm.assertEq(s, amount);
        vm.assertTrue(active);
        vm.assertEq(token.balanceOf(address(coord)), TREASURY + amount);
    }

    /// Voting weight is the stake at opening whatever is added mid-round.
    function testFuzz_TopUpMidRoundKeepsWeight(uint256 first, uint256 topUp) public {
        first = bound(first, MIN_STAKE, BALANCE / 2);
        topUp = bound(topUp, 1, BALANCE / 2);
        register(alice, first);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        uint256 round = coord.advance();
        vm.prank(alice);
        coord.stake(topUp);
        vm.assertEq(coord.stakeAtOpen(round, alice), first);
        vm.assertEq(coord.roundInfo(round).stakeSnapshot, first + 2 * MIN_STAKE);
        vm.warp(coord.roundInfo(round).commitDeadline);
        vote(alice, round, MODEL, bytes32(0));
        (, uint256 weight,) = coord.voteOf(round, alice);
        vm.assertEq(weight, first);
    }

    /// Merkle claims pay exactly the leaf amount while the pool lasts, and never more.
    function testFuzz_ClaimAmounts(uint256 a, uint256 b, uint256 c) public {
        uint256 pool = REWARD - REWARD * VOTER_BPS / 10_000;
        a = bound(a, 1, pool);
        b = bound(b, 1, pool);
        c = bound(c, 1, pool);
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (alice, bob, carol);
        uint256[] memory amounts = new uint256[](3);
        (amounts[0], amounts[1], amounts[2]) = (a, b, c);
        bytes32[] memory leaves = rewardLeaves(1, who, amounts);
        uint256 round = finalizeRoundOne(Merkle.root(leaves));

        uint256 paid;
        for (uint256 i; i < 3; ++i) {
            uint256 before = token.balanceOf(who[i]);
            bytes32[] memory proof = Merkle.proof(leaves, i);
            vm.prank(who[i]);
            if (paid + amounts[i] > pool) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IFedCoordinator.PoolExhausted.selector, round, amounts[i], pool - paid
                    )
                );
                coord.claim(round, amounts[i], proof);
                vm.assertEq(token.balanceOf(who[i]), before);
            } else {
                coord.claim(round, amounts[i], proof);
                paid += amounts[i];
                vm.assertEq(token.balanceOf(who[i]), before + amounts[i]);
            }
        }
        vm.assertEq(coord.roundInfo(round).contributorClaimed, paid);
        vm.assertLe(paid, pool);
    }

    /// A proof never verifies for an amount other than the leaf's.
    function testFuzz_ClaimRejectsOtherAmount(uint256 amount, uint256 claimed) public {
        amount = bound(amount, 1, 100e18);
        claimed = bound(claimed, 1, 100e18);
        vm.assume(amount != claimed);
        address[] memory who = new address[](2);
        (who[0], who[1]) = (alice, bob);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (amount, 1e18);
        bytes32[] memory leaves = rewardLeaves(1, who, amounts);
        uint256 round = finalizeRoundOne(Merkle.root(leaves));
        bytes32[] memory proof = Merkle.proof(leaves, 0);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.InvalidProof.selector, round, alice, claimed)
        );
        coord.claim(round, claimed, proof);
    }

    /// Voter shares are stake weighted and never exceed the voter pool.
    function testFuzz_VoterShares(uint256 sa, uint256 sb, uint256 sc) public {
        sa = bound(sa, MIN_STAKE, BALANCE);
        sb = bound(sb, MIN_STAKE, BALANCE);
        sc = bound(sc, MIN_STAKE, BALANCE);
        register(alice, sa);
        register(bob, sb);
        register(carol, sc);
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vote(alice, round, MODEL, bytes32(0));
        vote(bob, round, MODEL, bytes32(0));
        vote(carol, round, MODEL, bytes32(0));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(uint256(info.status), uint256(IFedCoordinator.RoundStatus.Finalized));
        vm.warp(info.voteDeadline);
        address[3] memory who = [alice, bob, carol];
        uint256[3] memory stakes = [sa, sb, sc];
        uint256 total;
        for (uint256 i; i < 3; ++i) {
            uint256 before = token.balanceOf(who[i]);
            vm.prank(who[i]);
            coord.claimVoterReward(round);
            uint256 got = token.balanceOf(who[i]) - before;
            vm.assertEq(got, info.voterPool * stakes[i] / (sa + sb + sc));
            total += got;
        }
        vm.assertLe(total, info.voterPool);
        vm.assertEq(coord.roundInfo(round).voterClaimed, total);
    }
}
