// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

contract ClaimTest is Fixture {
    uint256 internal constant A_AMOUNT = 300e18;
    uint256 internal constant B_AMOUNT = 200e18;
    uint256 internal constant C_AMOUNT = 100e18;

    bytes32[] internal leaves;

    function _finalizeWithRewards() private returns (uint256 round) {
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (alice, bob, carol);
        uint256[] memory amounts = new uint256[](3);
        (amounts[0], amounts[1], amounts[2]) = (A_AMOUNT, B_AMOUNT, C_AMOUNT);
        leaves = rewardLeaves(1, who, amounts);
        round = finalizeRoundOne(Merkle.root(leaves));
    }

    function test_Claim() public {
        uint256 round = _finalizeWithRewards();
        uint256 before = token.balanceOf(bob);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.RewardClaimed(round, bob, B_AMOUNT);
        vm.prank(bob);
        coord.claim(round, B_AMOUNT, Merkle.proof(leaves, 1));
        vm.assertEq(token.balanceOf(bob), before + B_AMOUNT);
        vm.assertTrue(coord.isClaimed(round, bob));
        vm.assertFalse(coord.isClaimed(round, alice));
        vm.assertEq(coord.roundInfo(round).contributorClaimed, B_AMOUNT);
    }

    function test_RevertWhen_ClaimTwice() public {
        uint256 round = _finalizeWithRewards();
        bytes32[] memory proof = Merkle.proof(leaves, 0);
        vm.prank(alice);
        coord.claim(round, A_AMOUNT, proof);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.AlreadyClaimed.selector, round, alice)
        );
        coord.claim(round, A_AMOUNT, proof);
    }

    function test_RevertWhen_ClaimWrongAmount() public {
        uint256 round = _finalizeWithRewards();
        bytes32[] memory proof = Merkle.proof(leaves, 0);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.InvalidProof.selector, round, alice, A_AMOUNT + 1
            )
        );
        coord.claim(round, A_AMOUNT + 1, proof);
    }

    function test_RevertWhen_ClaimSomeoneElsesLeaf() public {
        uint256 round = _finalizeWithRewards();
        bytes32[] memory proof = Merkle.proof(leaves, 0);
        vm.prank(dave);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.InvalidProof.selector, round, dave, A_AMOUNT)
        );
        coord.claim(round, A_AMOUNT, proof);
    }

    function test_RevertWhen_ClaimRoundNotFinalized() public {
        uint256 round = openRoundWithThree();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotFinalized.selector, round));
        coord.claim(round, 1, new bytes32[](0));
    }

    function test_RevertWhen_ClaimZero() public {
        uint256 round = _finalizeWithRewards();
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.AmountZero.selector);
        coord.claim(round, 0, new bytes32[](0));
    }

    function test_RevertWhen_ClaimExceedsPool() public {
        uint256 pool = REWARD - REWARD * VOTER_BPS / 10_000;
        address[] memory who = new address[](2);
        (who[0], who[1]) = (alice, bob);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (pool, 1);
        leaves = rewardLeaves(1, who, amounts);
        uint256 round = finalizeRoundOne(Merkle.root(leaves));
        vm.prank(alice);
        coord.claim(round, pool, Merkle.proof(leaves, 0));
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.PoolExhausted.selector, round, 1, 0));
        coord.claim(round, 1, Merkle.proof(leaves, 1));
    }

    function test_ClaimMany() public {
        _finalizeWithRewards();
        afterGrace();
        coord.advance();
        address[] memory who = new address[](1);
        who[0] = carol;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 5e18;
        bytes32[] memory leaves2 = rewardLeaves(2, who, amounts);
        commitAs(alice, 2);
        commitAs(bob, 2);
        commitAs(carol, 2);
        vote(alice, 2, MODEL, Merkle.root(leaves2));
        vote(bob, 2, MODEL, Merkle.root(leaves2));

        uint256[] memory rounds = new uint256[](2);
        (rounds[0], rounds[1]) = (1, 2);
        uint256[] memory claims = new uint256[](2);
        (claims[0], claims[1]) = (C_AMOUNT, 5e18);
        bytes32[][] memory proofs = new bytes32[][](2);
        proofs[0] = Merkle.proof(leaves, 2);
        proofs[1] = Merkle.proof(leaves2, 0);
        uint256 before = token.balanceOf(carol);
        vm.prank(carol);
        coord.claimMany(rounds, claims, proofs);
        vm.assertEq(token.balanceOf(carol), before + C_AMOUNT + 5e18);
        vm.assertTrue(coord.isClaimed(1, carol));
        vm.assertTrue(coord.isClaimed(2, carol));
    }

    function test_RevertWhen_ClaimManyDuplicateRound() public {
        uint256 round = _finalizeWithRewards();
        uint256[] memory rounds = new uint256[](2);
        (rounds[0], rounds[1]) = (round, round);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (A_AMOUNT, A_AMOUNT);
        bytes32[][] memory proofs = new bytes32[][](2);
        proofs[0] = Merkle.proof(leaves, 0);
        proofs[1] = proofs[0];
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.AlreadyClaimed.selector, round, alice)
        );
        coord.claimMany(rounds, amounts, proofs);
    }

    function test_RevertWhen_ClaimManyTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.BatchTooLarge.selector, 33, 32));
        coord.claimMany(new uint256[](33), new uint256[](33), new bytes32[][](33));
    }

    function test_RevertWhen_ClaimManyLengthMismatch() public {
        vm.expectRevert(IFedCoordinator.LengthMismatch.selector);
        coord.claimMany(new uint256[](2), new uint256[](1), new bytes32[][](2));
        vm.expectRevert(IFedCoordinator.LengthMismatch.selector);
        coord.claimMany(new uint256[](2), new uint256[](2), new bytes32[][](1));
    }
}

contract VoterRewardTest is Fixture {
    function test_ClaimVoterRewardAfterDeadline() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        vote(carol, round, MODEL, bytes32(0)); // late winning vote counts
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.warp(info.voteDeadline);
        uint256 share = info.voterPool * MIN_STAKE / (3 * MIN_STAKE);
        uint256 before = token.balanceOf(alice);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.VoterRewardClaimed(round, alice, share);
        vm.prank(alice);
        coord.claimVoterReward(round);
        vm.assertEq(token.balanceOf(alice), before + share);
        vm.prank(carol);
        coord.claimVoterReward(round);
        (,, bool claimed) = coord.voteOf(round, carol);
        vm.assertTrue(claimed);
    }

    function test_ClaimVoterRewardOnceNextRoundOpened() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        afterGrace();
        coord.advance();
        uint256 share = coord.roundInfo(round).voterPool / 2;
        uint256 before = token.balanceOf(bob);
        vm.prank(bob);
        coord.claimVoterReward(round);
        vm.assertEq(token.balanceOf(bob), before + share);
    }

    function test_RevertWhen_VoterRewardLocked() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        uint256 deadline = coord.roundInfo(round).voteDeadline;
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.VoterRewardLocked.selector, round, deadline)
        );
        coord.claimVoterReward(round);
    }

    function test_RevertWhen_VoterRewardNotFinalized() public {
        uint256 round = openRoundWithThree();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotFinalized.selector, round));
        coord.claimVoterReward(round);
    }

    function test_RevertWhen_VoterRewardNotWinning() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        vote(carol, round, OTHER_MODEL, bytes32(0));
        afterGrace();
        coord.advance();
        vm.prank(carol);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotWinningVoter.selector, round, carol)
        );
        coord.claimVoterReward(round);
        vm.prank(dave);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotWinningVoter.selector, round, dave)
        );
        coord.claimVoterReward(round);
    }

    function test_RevertWhen_VoterRewardTwice() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        afterGrace();
        coord.advance();
        vm.prank(alice);
        coord.claimVoterReward(round);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.AlreadyClaimed.selector, round, alice)
        );
        coord.claimVoterReward(round);
    }
}
