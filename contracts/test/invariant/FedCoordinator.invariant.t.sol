// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../utils/Test.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";
import {CoordinatorHandler} from "./CoordinatorHandler.sol";

contract FedCoordinatorInvariantTest is Test {
    FedToken internal token;
    FedCoordinator internal coord;
    CoordinatorHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new FedToken("Fedchain Token", "FED", address(this));
        coord = new FedCoordinator(
            token,
            keccak256("task"),
            hex"01551220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            IFedCoordinator.Params({
                minStake: 100e18,
                commitWindow: 600,
                voteWindow: 300,
                rewardPerRound: 1000e18,
                voterShareBps: 2000,
                slashBps: 5000,
                minParticipants: 3,
                unstakeCooldown: 600
            })
        );
        address[] memory actors = new address[](5);
        for (uint256 i; i < actors.length; ++i) {
            actors[i] = vm.addr(i + 1);
            token.mint(actors[i], 1e30);
            vm.prank(actors[i]);
            token.approve(address(coord), type(uint256).max);
        }
        handler = new CoordinatorHandler(coord, token, actors);
        // Three actors start registered so rounds can open; the others may join later.
        for (uint256 i; i < 3; ++i) {
            handler.register(i, 100e18);
        }
        handler.fund(2000e18);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = CoordinatorHandler.register.selector;
        selectors[1] = CoordinatorHandler.topUp.selector;
        selectors[2] = CoordinatorHandler.fund.selector;
        selectors[3] = CoordinatorHandler.warp.selector;
        selectors[4] = CoordinatorHandler.advance.selector;
        selectors[5] = CoordinatorHandler.commit.selector;
        selectors[6] = CoordinatorHandler.vote.selector;
        selectors[7] = CoordinatorHandler.claim.selector;
        selectors[8] = CoordinatorHandler.claimVoter.selector;
        selectors[9] = CoordinatorHandler.requestUnstake.selector;
        selectors[10] = CoordinatorHandler.withdraw.selector;
        selectors[11] = CoordinatorHandler.setSlashBps.selector;
        selectors[12] = CoordinatorHandler.setUnstakeCooldown.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Every token that came in and has not been paid out is still held.
    function invariant_BalanceMatchesGhostFlows() public view {
        vm.assertEq(token.balanceOf(address(coord)), handler.ghostIn() - handler.ghostOut());
    }

    /// Token conservation: stakes + treasury + unclaimed pools == balance.
    function invariant_Conservation() public view {
        uint256 pools;
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            pools += info.contributorPool + info.voterPool;
            pools -= info.contributorClaimed + info.voterClaimed;
        }
        vm.assertEq(
            token.balanceOf(address(coord)),
            coord.totalStaked() + coord.totalUnbonding() + coord.treasury() + pools
        );
    }

    /// Per actor: what it holds in the coordinator is exactly deposits minus withdrawals
    /// minus slashes, so a slashed amount can never come back out.
    function invariant_SlashedNeverWithdrawable() public view {
        uint256 n = handler.actorCount();
        for (uint256 i; i < n; ++i) {
            address who = handler.actors(i);
            (uint256 s, uint256 unbonding,,,) = coord.stakeInfo(who);
            uint256 deposited = handler.ghostDeposited(who);
            uint256 gone = handler.ghostWithdrawn(who) + handler.ghostSlashed(who);
            vm.assertLe(gone, deposited);
            vm.assertEq(s + unbonding, deposited - gone);
        }
    }

    /// No round finalized below 2/3 of its snapshotted stake.
    function invariant_NoFinalizationBelowQuorum() public view {
        vm.assertEq(handler.ghostBelowQuorum(), 0);
    }

    /// At most one commitment per address per round, and the count matches.
    function invariant_OneCommitmentPerAddress() public view {
        uint256 current = coord.currentRound();
        uint256 n = handler.actorCount();
        for (uint256 r = 1; r <= current; ++r) {
            uint256 count;
            for (uint256 i; i < n; ++i) {
                address who = handler.actors(i);
                uint256 commits = handler.ghostCommits(r, who);
                vm.assertLe(commits, 1);
                count += commits;
                vm.assertEq(coord.commitmentOf(r, who) != bytes32(0), commits == 1);
            }
            vm.assertEq(coord.roundInfo(r).commitCount, count);
        }
    }

    /// No reward is claimed twice.
    function invariant_NoDoubleClaim() public view {
        uint256 current = coord.currentRound();
        uint256 n = handler.actorCount();
        for (uint256 r = 1; r <= current; ++r) {
            for (uint256 i; i < n; ++i) {
                address who = handler.actors(i);
                vm.assertLe(handler.ghostClaims(r, who), 1);
                vm.assertLe(handler.ghostVoterClaims(r, who), 1);
                vm.assertEq(coord.isClaimed(r, who), handler.ghostClaims(r, who) == 1);
            }
        }
    }

    /// Claims never exceed their pools.
    function invariant_ClaimsWithinPools() public view {
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            vm.assertLe(info.contributorClaimed, info.contributorPool);
            vm.assertLe(info.voterClaimed, info.voterPool);
            if (info.status == IFedCoordinator.RoundStatus.Failed) {
                vm.assertEq(info.contributorPool + info.voterPool, 0);
            }
        }
    }

    /// The aggregate stake counters equal the sums over participants.
    function invariant_StakeAccounting() public view {
        uint256 total;
        uint256 active;
        uint256 activeN;
        uint256 n = coord.participantCount();
        for (uint256 i; i < n; ++i) {
            (uint256 s,,, bool isActive) = coord.participant(coord.participantAt(i));
            total += s;
            if (isActive) {
                active += s;
                activeN += 1;
                vm.assertGe(s, coord.params().minStake);
            }
        }
        vm.assertEq(coord.totalStaked(), total);
        vm.assertEq(coord.activeStake(), active);
        vm.assertEq(coord.activeCount(), activeN);
    }

    /// Only the current round can be open; finalized rounds hold the winning quorum.
    function invariant_RoundStates() public view {
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            if (r < current) vm.assertTrue(info.status != IFedCoordinator.RoundStatus.Open);
            if (info.status == IFedCoordinator.RoundStatus.Finalized) {
                vm.assertGe(info.winningWeight * 3, info.stakeSnapshot * 2);
            }
        }
    }

    /// The handler's actions do reach finalization and claims (guards against a vacuous walk).
    function test_HandlerCompletesARound() public {
        handler.advance();
        for (uint256 i; i < 3; ++i) {
            handler.commit(i);
        }
        handler.vote(0, 1);
        handler.vote(1, 1);
        vm.assertEq(handler.ghostFinalized(), 1);
        handler.claim(0, 1);
        vm.assertEq(handler.ghostOut(), handler.rewardOf(0));
        handler.advance();
        handler.claimVoter(1, 1);
        vm.assertGt(handler.ghostOut(), handler.rewardOf(0));
    }

    /// Sanity of the ghost counters after each run.
    function afterInvariant() public view {
        vm.assertLe(handler.ghostFinalized() + handler.ghostFailed(), coord.currentRound());
    }
}
