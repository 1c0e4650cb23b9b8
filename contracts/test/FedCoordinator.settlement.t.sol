// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice After finalization: the on-chain late-vote grace, the refund of an empty reward
///         tree, the claim period and `sweep`, and `advance` while paused.
contract GraceTest is Fixture {
    function test_RecordsFinalizedAt() public {
        uint256 round = openRoundWithThree();
        vm.warp(block.timestamp + 5);
        uint256 t = block.timestamp;
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vote(alice, round, MODEL, bytes32(0));
        vm.assertEq(coord.roundInfo(round).finalizedAt, 0);
        vote(bob, round, MODEL, bytes32(0));
        vm.assertEq(coord.roundInfo(round).finalizedAt, t);
    }

    function test_RevertWhen_AdvanceDuringGrace() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        uint256 until = block.timestamp + GRACE;
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.GraceActive.selector, round, until));
        coord.advance();
        vm.warp(until - 1);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.GraceActive.selector, round, until));
        coord.advance();
        vm.warp(until);
        vm.assertEq(coord.advance(), round + 1);
    }

    /// A late winning voter inside the grace counts and shares the voter pool.
    function test_LateVoterInsideGraceIsPaid() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        vm.warp(block.timestamp + GRACE - 1);
        vote(carol, round, MODEL, bytes32(0));
        vm.assertEq(coord.advance(), round + 1); // everyone voted: no grace left
        uint256 before = token.balanceOf(carol);
        vm.prank(carol);
        coord.claimVoterReward(round);
        vm.assertEq(token.balanceOf(carol), before + VOTER_POOL / 3);
    }

    function test_NoGraceOnceEveryoneVoted() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        vote(carol, round, MODEL, bytes32(0));
        vm.assertEq(coord.advance(), round + 1);
    }

    function test_DissentingLateVoteKeepsGrace() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        vote(carol, round, OTHER_MODEL, bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.GraceActive.selector, round, block.timestamp + GRACE
            )
        );
        coord.advance();
    }

    function test_GraceCappedAtVoteDeadline() public {
        uint256 round = openRoundWithThree();
        uint256 deadline = coord.roundInfo(round).voteDeadline;
        vm.warp(deadline - 5);
        vote(alice, round, MODEL, bytes32(0));
        vote(bob, round, MODEL, bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.GraceActive.selector, round, deadline)
        );
        coord.advance();
        vm.warp(deadline);
        vm.assertEq(coord.advance(), round + 1);
    }

    function test_ZeroGraceAdvancesInTheSameBlock() public {
        coord.setLateVoteGrace(0);
        uint256 round = finalizeRoundOne(bytes32(0));
        vm.assertEq(coord.params().lateVoteGrace, 0);
        vm.assertEq(coord.advance(), round + 1);
    }
}

contract RefundTest is Fixture {
    function test_EmptyRewardTreeRefundsContributorPool() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vote(alice, round, MODEL, bytes32(0));
        address[] memory none = new address[](0);
        bytes32 outcome = coord.outcomeIdOf(MODEL, bytes32(0), none);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Finalized(round, MODEL, bytes32(0), outcome, none, CONTRIBUTOR_POOL);
        vote(bob, round, MODEL, bytes32(0));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.contributorPool, 0);
        vm.assertEq(info.voterPool, VOTER_POOL);
        vm.assertEq(coord.treasury(), TREASURY - VOTER_POOL);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.InvalidProof.selector, round, alice, 1)
        );
        coord.claim(round, 1, new bytes32[](0));
    }

    function test_FinalizedEventCarriesSlashListAndNoRefund() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        bytes32 root = keccak256("root");
        voteSlash(alice, round, root, slash);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Finalized(
            round, MODEL, root, coord.outcomeIdOf(MODEL, root, slash), slash, 0
        );
        voteSlash(bob, round, root, slash);
        vm.assertEq(coord.roundInfo(round).contributorPool, CONTRIBUTOR_POOL);
    }
}

contract ClaimPeriodTest is Fixture {
    bytes32[] internal leaves;

    /// Round 1: alice 300, bob 200 of an 800 contributor pool; alice and bob finalize.
    function _finalize() internal returns (uint256 round) {
        address[] memory who = new address[](2);
        (who[0], who[1]) = (alice, bob);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (300e18, 200e18);
        leaves = rewardLeaves(1, who, amounts);
        round = finalizeRoundOne(Merkle.root(leaves));
    }

    function test_ClaimDeadline() public {
        vm.assertEq(coord.claimDeadline(1), 0);
        uint256 round = openRoundWithThree();
        vm.assertEq(coord.claimDeadline(round), coord.roundInfo(round).voteDeadline + CLAIM_PERIOD);
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round); // closes early: the vote deadline and the claim deadline move
        vm.assertEq(coord.claimDeadline(round), block.timestamp + VOTE_WINDOW + CLAIM_PERIOD);
    }

    /// A round keeps the claim period it opened with, whatever the owner stages later.
    function test_ClaimPeriodFixedAtOpening() public {
        uint256 round = _finalize();
        uint256 deadline = coord.claimDeadline(round);
        coord.setClaimPeriod(60);
        afterGrace();
        coord.advance();
        vm.assertEq(coord.params().claimPeriod, 60);
        vm.assertEq(coord.claimDeadline(round), deadline);
        vm.assertEq(coord.claimDeadline(round + 1), coord.roundInfo(round + 1).voteDeadline + 60);
    }

    function test_ClaimsUntilDeadline() public {
        uint256 round = _finalize();
        uint256 deadline = coord.claimDeadline(round);
        vm.warp(deadline - 1);
        vm.prank(alice);
        coord.claim(round, 300e18, Merkle.proof(leaves, 0));
        vm.prank(alice);
        coord.claimVoterReward(round);
    }

    function test_RevertWhen_ClaimAfterPeriod() public {
        uint256 round = _finalize();
        uint256 deadline = coord.claimDeadline(round);
        vm.warp(deadline);
        bytes memory err =
            abi.encodeWithSelector(IFedCoordinator.ClaimPeriodOver.selector, round, deadline);
        vm.prank(alice);
        vm.expectRevert(err);
        coord.claim(round, 300e18, Merkle.proof(leaves, 0));

        uint256[] memory rounds = new uint256[](1);
        rounds[0] = round;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 300e18;
        bytes32[][] memory proofs = new bytes32[][](1);
        proofs[0] = Merkle.proof(leaves, 0);
        vm.prank(alice);
        vm.expectRevert(err);
        coord.claimMany(rounds, amounts, proofs);

        vm.prank(bob);
        vm.expectRevert(err);
        coord.claimVoterReward(round);
    }
}

contract SweepTest is Fixture {
    bytes32[] internal leaves;

    function _finalize() internal returns (uint256 round) {
        address[] memory who = new address[](2);
        (who[0], who[1]) = (alice, bob);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (300e18, 200e18);
        leaves = rewardLeaves(1, who, amounts);
        round = finalizeRoundOne(Merkle.root(leaves));
    }

    function test_RevertWhen_SweepDuringClaimPeriod() public {
        uint256 round = _finalize();
        uint256 deadline = coord.claimDeadline(round);
        vm.warp(deadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.ClaimPeriodActive.selector, round, deadline)
        );
        coord.sweep(round);
    }

    function test_RevertWhen_SweepNotFinalized() public {
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotFinalized.selector, 1));
        coord.sweep(1);
        uint256 round = openRoundWithThree();
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotFinalized.selector, round));
        coord.sweep(round);
        vm.warp(coord.claimDeadline(round));
        coord.advance(); // fails it: its pools already went back
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotFinalized.selector, round));
        coord.sweep(round);
    }

    /// Unallocated contributor pool, an unclaimed leaf, unclaimed voter shares and rounding
    /// dust all return to the treasury; anyone may sweep; the contract's balance adds up.
    function test_SweepReturnsEverythingUnclaimed() public {
        uint256 round = _finalize();
        vote(carol, round, MODEL, Merkle.root(leaves)); // late winning vote: 3 equal voters
        vm.prank(alice);
        coord.claim(round, 300e18, Merkle.proof(leaves, 0));
        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.prank(alice);
        coord.claimVoterReward(round);
        uint256 share = VOTER_POOL / 3;
        uint256 treasuryBefore = coord.treasury();
        uint256 balance = token.balanceOf(address(coord));

        vm.warp(coord.claimDeadline(round));
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Swept(round, CONTRIBUTOR_POOL - 300e18, VOTER_POOL - share);
        vm.prank(dave);
        coord.sweep(round);

        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.contributorClaimed, info.contributorPool);
        vm.assertEq(info.voterClaimed, info.voterPool);
        vm.assertEq(coord.treasury(), treasuryBefore + REWARD - 300e18 - share);
        vm.assertEq(token.balanceOf(address(coord)), balance); // no token moved
        vm.assertEq(balance, coord.totalStaked() + coord.totalUnbonding() + coord.treasury());
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NothingToSweep.selector, round));
        coord.sweep(round);
    }

    function test_RevertWhen_NothingToSweep() public {
        coord.setRewardPerRound(0);
        uint256 round = finalizeRoundOne(keccak256("root"));
        vm.warp(coord.claimDeadline(round));
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NothingToSweep.selector, round));
        coord.sweep(round);
    }

    /// Swept tokens fund the next rounds' pools.
    function test_SweptTokensFundLaterRounds() public {
        coord.setRewardPerRound(uint256(TREASURY));
        uint256 round = _finalize();
        vm.assertEq(coord.treasury(), 0);
        vm.warp(coord.claimDeadline(round));
        coord.sweep(round);
        vm.assertEq(coord.treasury(), TREASURY);
        uint256 next = coord.advance();
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(next);
        vm.assertEq(info.contributorPool + info.voterPool, TREASURY);
    }
}

contract PausedAdvanceTest is Fixture {
    function test_AdvanceWhilePausedFailsExpiredRound() public {
        uint256 round = openRoundWithThree();
        coord.pause();
        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.RoundFailed(round, REWARD);
        vm.assertEq(coord.advance(), round);
        vm.assertEq(
            uint256(coord.roundInfo(round).status), uint256(IFedCoordinator.RoundStatus.Failed)
        );
        vm.assertEq(coord.treasury(), TREASURY);
        vm.assertEq(coord.currentRound(), round);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        coord.advance();
        coord.unpause();
        vm.assertEq(coord.advance(), round + 1);
    }

    function test_AdvanceWhilePausedOpensNothingAfterFinalized() public {
        uint256 round = finalizeRoundOne(bytes32(0));
        coord.pause();
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.GraceActive.selector, round, block.timestamp + GRACE
            )
        );
        coord.advance();
        afterGrace();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        coord.advance();
    }
}
