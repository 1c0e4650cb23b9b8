// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {FedCoordinator} from "../src/FedCoordinator.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice The stop rule: agreed metric per round, target / patience / max rounds, a finished
///         deployment opens no round but claims, sweeps, unstakes and withdrawals go on.
contract FedCoordinatorStopRuleTest is Fixture {
    bytes32 internal constant ROOT = keccak256("root");

    /// @dev A coordinator with the given stop rule, alice/bob/carol registered at equal
    ///      stakes (bob at `bobStake`).
    function _deploy(uint16 target, uint32 patience, uint32 maxRounds, uint256 bobStake) internal {
        IFedCoordinator.Params memory p = defaultParams();
        p.targetMetricBps = target;
        p.patience = patience;
        p.maxRounds = maxRounds;
        coord = deployCoordinator(p);
        address[4] memory accounts = [alice, bob, carol, dave];
        for (uint256 i; i < accounts.length; ++i) {
            vm.prank(accounts[i]);
            token.approve(address(coord), type(uint256).max);
        }
        token.approve(address(coord), type(uint256).max);
        coord.fundTreasury(TREASURY);
        register(alice, MIN_STAKE);
        register(bob, bobStake);
        register(carol, MIN_STAKE);
    }

    function _voteMetric(address who, uint256 round, uint16 metric) internal {
        vm.prank(who);
        coord.submitOutcome(round, MODEL, ROOT, new address[](0), metric);
    }

    /// @dev Opens the next round (after the grace), everyone commits, alice and bob vote
    ///      with `metric`: finalized.
    function _round(uint16 metric) internal returns (uint256 round) {
        if (coord.currentRound() != 0) afterGrace();
        round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        _voteMetric(alice, round, metric);
        _voteMetric(bob, round, metric);
    }

    function test_AgreedMetricIsStakeWeightedMeanAtFinalization() public {
        _deploy(0, 0, 0, 2 * MIN_STAKE); // snapshot 400: alice (100) + bob (200) finalize
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.OutcomeSubmitted(
            round, alice, coord.outcomeIdOf(MODEL, ROOT, new address[](0)), MIN_STAKE, 8000
        );
        _voteMetric(alice, round, 8000);
        vm.assertEq(coord.agreedMetric(round), 0); // not finalized yet
        _voteMetric(bob, round, 9500);
        // (100 * 8000 + 200 * 9500) / 300 = 9000
        vm.assertEq(coord.agreedMetric(round), 9000);
        _voteMetric(carol, round, 0); // a late winning vote leaves the agreed value alone
        vm.assertEq(coord.agreedMetric(round), 9000);
        vm.assertFalse(coord.finished());
        vm.assertEq(coord.finalModelCid(), bytes(""));
    }

    function test_MetricAboveBpsReverts() public {
        _deploy(0, 0, 0, MIN_STAKE);
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.InvalidMetric.selector, 10_001));
        coord.submitOutcome(round, MODEL, ROOT, new address[](0), 10_001);
    }

    function test_TargetReachedFinishesAndRefusesNewRounds() public {
        _deploy(9000, 0, 0, MIN_STAKE);
        uint256 one = _round(8999);
        vm.assertFalse(coord.finished());
        afterGrace();
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        _voteMetric(alice, round, 9000);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.DeploymentFinished(
            round, IFedCoordinator.StopReason.TargetReached, 9000, MODEL
        );
        _voteMetric(bob, round, 9000);
        vm.assertTrue(coord.finished());
        vm.assertEq(coord.finalModelCid(), MODEL);
        vm.assertEq(coord.agreedMetric(one), 8999);

        afterGrace();
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.DeploymentOver.selector, round));
        coord.advance();
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.DeploymentOver.selector, round));
        coord.advance();
    }

    function test_FinishedDeploymentKeepsClaimsSweepsAndWithdrawals() public {
        _deploy(0, 0, 1, MIN_STAKE);
        uint256 round = _round(5000);
        vm.assertTrue(coord.finished());
        // Voter rewards unlock at the vote deadline (the round stays current for ever).
        vm.warp(coord.roundInfo(round).voteDeadline);
        uint256 before = token.balanceOf(alice);
        vm.prank(alice);
        coord.claimVoterReward(round);
        vm.assertEq(token.balanceOf(alice) - before, VOTER_POOL / 2);
        // Unstake and withdraw.
        vm.prank(carol);
        coord.requestUnstake(MIN_STAKE);
        vm.warp(block.timestamp + COOLDOWN);
        before = token.balanceOf(carol);
        vm.prank(carol);
        coord.withdraw();
        vm.assertEq(token.balanceOf(carol) - before, MIN_STAKE);
        // Sweep returns the unclaimed rest to the treasury after the claim period.
        vm.warp(coord.claimDeadline(round));
        uint256 treasury = coord.treasury();
        coord.sweep(round);
        vm.assertEq(coord.treasury() - treasury, CONTRIBUTOR_POOL + VOTER_POOL - VOTER_POOL / 2);
    }

    function test_MaxRoundsCountsFinalizedRoundsOnly() public {
        _deploy(0, 0, 2, MIN_STAKE);
        _round(1000);
        afterGrace();
        uint256 failed = coord.advance(); // round 2 fails: nobody votes
        vm.warp(coord.roundInfo(failed).voteDeadline);
        uint256 third = coord.advance();
        vm.assertEq(
            uint256(coord.roundInfo(failed).status), uint256(IFedCoordinator.RoundStatus.Failed)
        );
        vm.assertFalse(coord.finished());
        commitAs(alice, third);
        commitAs(bob, third);
        commitAs(carol, third);
        _voteMetric(alice, third, 1000);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.DeploymentFinished(
            third, IFedCoordinator.StopReason.MaxRounds, 1000, MODEL
        );
        _voteMetric(bob, third, 1000);
    }

    function test_PatienceFinishesAfterRoundsWithoutImprovement() public {
        _deploy(0, 2, 0, MIN_STAKE);
        _round(8000);
        _round(8000); // no improvement: 1
        _round(8500); // better: the count restarts
        _round(8100); // 1
        vm.assertFalse(coord.finished());
        afterGrace();
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        _voteMetric(alice, round, 8500);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.DeploymentFinished(
            round, IFedCoordinator.StopReason.NoImprovement, 8500, MODEL
        );
        _voteMetric(bob, round, 8500); // equal is no improvement: 2
    }

    function test_TargetWinsOverTheOtherConditions() public {
        _deploy(7000, 1, 1, MIN_STAKE);
        uint256 round = coord.advance();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        _voteMetric(alice, round, 7000);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.DeploymentFinished(
            round, IFedCoordinator.StopReason.TargetReached, 7000, MODEL
        );
        _voteMetric(bob, round, 7000);
    }

    function test_SetStopRuleIsStagedAndBounded() public {
        _deploy(0, 0, 0, MIN_STAKE);
        uint256 one = coord.advance();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("targetMetricBps", 0, 9500);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("patience", 0, 3);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("maxRounds", 0, 1);
        coord.setStopRule(9500, 3, 1);
        vm.assertEq(coord.pendingParams().maxRounds, 1);
        vm.assertEq(coord.params().maxRounds, 0);
        // Round 1 opened before the change: it finalizes without finishing.
        commitAs(alice, one);
        commitAs(bob, one);
        commitAs(carol, one);
        _voteMetric(alice, one, 100);
        _voteMetric(bob, one, 100);
        vm.assertFalse(coord.finished());
        _round(100); // round 2 opens with maxRounds = 1: finalized rounds = 2 >= 1
        vm.assertTrue(coord.finished());
        vm.assertEq(coord.params().targetMetricBps, 9500);
        vm.assertEq(coord.params().patience, 3);

        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.ParamOutOfRange.selector, "targetMetricBps", 10_001, 0, 10_000
            )
        );
        coord.setStopRule(10_001, 0, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.ParamOutOfRange.selector, "maxRounds", 1_000_001, 0, 1_000_000
            )
        );
        coord.setStopRule(0, 0, 1_000_001);
        vm.prank(alice);
        vm.expectRevert();
        coord.setStopRule(0, 0, 0);
    }

    function test_ConstructorChecksStopRuleBounds() public {
        IFedCoordinator.Params memory p = defaultParams();
        p.patience = 1_000_001;
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.ParamOutOfRange.selector, "patience", 1_000_001, 0, 1_000_000
            )
        );
        new FedCoordinator(token, TASK, GENESIS, p);
    }

    /// @dev Random metrics per round against a plain replay of the rule.
    function testFuzz_StopRuleMatchesReplay(uint256 seed, uint16 target, uint8 patience, uint8 cap)
        public
    {
        target = uint16(bound(target, 0, 10_000));
        patience = uint8(bound(patience, 0, 4));
        cap = uint8(bound(cap, 0, 8));
        _deploy(target, patience, cap, MIN_STAKE);
        uint256 best = 0;
        uint256 since = 0;
        for (uint256 n = 1; n <= 8; ++n) {
            uint16 metric = uint16(uint256(keccak256(abi.encode(seed, n))) % 10_001);
            if (uint256(keccak256(abi.encode(seed, n))) % 4 == 0) metric = uint16(best); // ties
            uint256 round = _round(metric);
            vm.assertEq(coord.agreedMetric(round), metric);
            if (metric > best) (best, since) = (metric, 0);
            else since += 1;
            bool done = (target != 0 && metric >= target) || (patience != 0 && since >= patience)
                || (cap != 0 && n >= cap);
            vm.assertEq(coord.finished(), done);
            if (done) {
                vm.assertEq(coord.finalModelCid(), MODEL);
                afterGrace();
                vm.expectRevert(
                    abi.encodeWithSelector(IFedCoordinator.DeploymentOver.selector, round)
                );
                coord.advance();
                return;
            }
        }
    }
}
