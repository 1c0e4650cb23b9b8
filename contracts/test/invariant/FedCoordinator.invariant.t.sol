// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../utils/Test.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";
import {CoordinatorHandler} from "./CoordinatorHandler.sol";
import {CoordinatorHarness} from "../utils/CoordinatorHarness.sol";

/// @notice Invariants of the coordinator under the adversarial handler. The handler checks
///         call-level properties as it acts (who may commit, vote, be slashed, claim, sweep,
///         advance, withdraw, be reported) and counts mismatches, which every invariant
///         requires to be 0; the invariants also check the state after every call: token
///         conservation, nothing stuck, round and stake accounting, staged parameters.
contract FedCoordinatorInvariantTest is Test {
    uint256 internal constant ACTORS = 28;

    FedToken internal token;
    CoordinatorHarness internal coord;
    CoordinatorHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new FedToken("Fedchain Token", "FED", address(this), 1e27);
        coord = new CoordinatorHarness(
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
                unstakeCooldown: 600,
                lateVoteGrace: 15,
                claimPeriod: 7200,
                inactivityRounds: 2,
                inactivityLeakBps: 100,
                committeeSize: 0,
                targetMetricBps: 0,
                patience: 0,
                maxRounds: 0
            })
        );
        address[] memory actors = new address[](ACTORS);
        for (uint256 i; i < ACTORS; ++i) {
            actors[i] = vm.addr(i + 1);
            token.transfer(actors[i], 1e25);
            vm.prank(actors[i]);
            token.approve(address(coord), type(uint256).max);
        }
        handler = new CoordinatorHandler(FedCoordinator(coord), token, actors);
        handler.bootstrap(20_000e18);

        bytes4[] memory selectors = new bytes4[](23);
        selectors[0] = CoordinatorHandler.register.selector;
        selectors[1] = CoordinatorHandler.topUp.selector;
        selectors[2] = CoordinatorHandler.requestUnstake.selector;
        selectors[3] = CoordinatorHandler.withdraw.selector;
        selectors[4] = CoordinatorHandler.fund.selector;
        selectors[5] = CoordinatorHandler.reportInactive.selector;
        selectors[6] = CoordinatorHandler.warp.selector;
        selectors[7] = CoordinatorHandler.warpFar.selector;
        selectors[8] = CoordinatorHandler.advance.selector;
        selectors[9] = CoordinatorHandler.registerThenAdvance.selector;
        selectors[10] = CoordinatorHandler.commit.selector;
        selectors[11] = CoordinatorHandler.vote.selector;
        selectors[12] = CoordinatorHandler.voteMalformed.selector;
        selectors[13] = CoordinatorHandler.voteThenAdvance.selector;
        selectors[14] = CoordinatorHandler.claim.selector;
        selectors[15] = CoordinatorHandler.claimVoter.selector;
        selectors[16] = CoordinatorHandler.sweep.selector;
        selectors[17] = CoordinatorHandler.togglePause.selector;
        selectors[18] = CoordinatorHandler.setParam.selector;
        selectors[19] = CoordinatorHandler.livenessRound.selector;
        selectors[20] = CoordinatorHandler.commitSome.selector;
        selectors[21] = CoordinatorHandler.honestVotes.selector;
        selectors[22] = CoordinatorHandler.setCommittee.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /* ----------------------------- invariants ---------------------------- */

    // forge runs one campaign per invariant function and checks only that function after
    // each call, so the properties are grouped into three campaigns; each also requires
    // the handler's call-level checks to have passed (one cheap read).

    /// Call-level properties (see `_noViolations`) and staged parameters.
    function invariant_CallsAndParams() public view {
        _noViolations();
        _paramsStaged();
    }

    /// Token conservation (with sweeps) and no value stuck.
    function invariant_TokensConserved() public view {
        _noViolations();
        _conservation();
        _noStuckValue();
    }

    /// Round accounting (commits, eligibility, committees, votes, quorum) and stake
    /// accounting (with the stake tree).
    function invariant_RoundsAndStakes() public view {
        _noViolations();
        _roundAccounting();
        _currentCommittee();
        _stakeAccounting();
    }

    /* ----------------------------- properties ---------------------------- */

    /// Every call-level property the handler checks held on every call: eligibility of
    /// commits and votes, vote weight = stake at opening, slashes (committers only, exact,
    /// once), malformed lists refused, claims (forged refused, valid paid exactly, none after
    /// the claim period), voter shares floor(pool * w / W), sweeps, grace, pause, staged
    /// setters, withdrawals, inactivity reports, and liveness of an honest 2/3 quorum.
    function _noViolations() internal view {
        if (handler.violationTotal() == 0) return;
        uint256 n = handler.violationCount();
        for (uint256 i; i < n; ++i) {
            vm.assertEq(handler.violations(i), 0, handler.violationNames(i));
        }
    }

    /// Token conservation: balance == ghost in - out == stakes + unbonding + treasury +
    /// sum over rounds of (pools - claimed) (a swept round contributes 0).
    function _conservation() internal view {
        uint256 balance = token.balanceOf(address(coord));
        vm.assertEq(balance, handler.ghostIn() - handler.ghostOut(), "ghost flows");
        uint256 pools;
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            vm.assertLe(info.contributorClaimed, info.contributorPool, "contributor claims");
            vm.assertLe(info.voterClaimed, info.voterPool, "voter claims");
            pools += info.contributorPool - info.contributorClaimed;
            pools += info.voterPool - info.voterClaimed;
        }
        vm.assertEq(
            balance,
            coord.totalStaked() + coord.totalUnbonding() + coord.treasury() + pools,
            "conservation"
        );
    }

    /// No value stuck: a failed round holds nothing, a finalized round with a zero reward
    /// root holds no contributor pool, a swept round holds nothing.
    function _noStuckValue() internal view {
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            if (info.status == IFedCoordinator.RoundStatus.Failed) {
                vm.assertEq(info.contributorPool + info.voterPool, 0, "failed round pools");
            }
            if (
                info.status == IFedCoordinator.RoundStatus.Finalized
                    && info.rewardRoot == bytes32(0)
            ) {
                vm.assertEq(info.contributorPool, info.contributorClaimed, "root-0 pool kept");
            }
            (,,,,,, bool swept,,,) = handler.roundGhost(r);
            if (swept) {
                vm.assertEq(info.contributorPool, info.contributorClaimed, "swept contributor");
                vm.assertEq(info.voterPool, info.voterClaimed, "swept voter");
            }
        }
    }

    /// Per round: only the current round is Open; commitCount == ghost commits <=
    /// eligibleCount == ghost members; total vote weight <= snapshot; a finalized round's
    /// winning weight is >= 2/3 of the snapshot and equals the sum of its winning votes.
    function _roundAccounting() internal view {
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            (
                ,,,,
                uint32 members,
                uint32 commits,,
                bytes16 winKey,
                uint256 snapshot,
                uint256 votes
            ) = handler.roundGhost(r);
            if (r < current) vm.assertTrue(info.status != IFedCoordinator.RoundStatus.Open);
            vm.assertLe(info.commitCount, info.eligibleCount, "commitCount > eligibleCount");
            vm.assertEq(info.commitCount, commits, "commitCount");
            vm.assertEq(info.eligibleCount, members, "eligibleCount");
            vm.assertEq(info.stakeSnapshot, snapshot, "stakeSnapshot");
            if (handler.sampled(r)) {
                vm.assertEq(info.eligibleCount, handler.committeeK(r), "committee size");
                vm.assertTrue(coord.committeeSeed(r) != bytes32(0), "committee seed");
            } else {
                vm.assertTrue(coord.committeeSeed(r) == bytes32(0), "seed of an everyone round");
            }
            vm.assertLe(votes, snapshot, "votes > snapshot");
            if (info.status == IFedCoordinator.RoundStatus.Finalized) {
                vm.assertGe(info.winningWeight * 3, info.stakeSnapshot * 2);
                vm.assertEq(info.winningWeight, handler.keyWeight(r, winKey), "winning weight");
            }
        }
    }

    /// The current round's committee: as many accounts selected as it has members (at most
    /// K when drawn), each selected account a ghost member.
    function _currentCommittee() internal view {
        uint256 round = coord.currentRound();
        if (round == 0 || !handler.sampled(round)) return;
        uint256 selected;
        for (uint256 i; i < ACTORS; ++i) {
            address who = handler.actors(i);
            bool s = coord.isSelected(round, who);
            vm.assertTrue(s == handler.member(round, who), "isSelected");
            if (s) selected += 1;
        }
        vm.assertEq(selected, coord.roundInfo(round).eligibleCount, "selected count");
        vm.assertLe(selected, coord.params().committeeSize, "selected > K");
    }

    /// Stake totals equal the sums over participants, the stake tree mirrors the registry
    /// (each index holds the account's stake if active, else 0; its total is `activeStake`),
    /// and per actor what it holds in the coordinator is deposits - withdrawals - slashes -
    /// inactivity leaks (a slashed or leaked token never comes back out).
    function _stakeAccounting() internal view {
        uint256 total;
        uint256 active;
        uint256 activeN;
        uint256 n = coord.participantCount();
        for (uint256 i; i < n; ++i) {
            (uint256 s,,, bool isActive) = coord.participant(coord.participantAt(i));
            vm.assertEq(coord.treeWeight(i), isActive ? s : 0, "tree weight");
            total += s;
            if (isActive) {
                active += s;
                activeN += 1;
            }
        }
        vm.assertEq(coord.totalStaked(), total, "totalStaked");
        vm.assertEq(coord.activeStake(), active, "activeStake");
        vm.assertEq(coord.activeCount(), activeN, "activeCount");
        vm.assertEq(coord.treeSize(), n, "tree size");
        vm.assertEq(coord.treeTotal(), coord.activeStake(), "tree total");
        for (uint256 i; i < ACTORS; ++i) {
            address who = handler.actors(i);
            (uint256 s, uint256 unbonding,,,) = coord.stakeInfo(who);
            uint256 gone = handler.withdrawn(who) + handler.slashed(who) + handler.leaked(who);
            vm.assertEq(s + unbonding + gone, handler.deposited(who), "held");
        }
    }

    /// Parameters change only when a round opens: params() is what the current round
    /// opened with, pendingParams() what the setters staged.
    function _paramsStaged() internal view {
        vm.assertEq(keccak256(abi.encode(coord.params())), keccak256(abi.encode(handler.inForce())));
        vm.assertEq(
            keccak256(abi.encode(coord.pendingParams())), keccak256(abi.encode(handler.pending()))
        );
    }

    function afterInvariant() public view {
        vm.assertLe(handler.ghostFinalized() + handler.ghostFailed(), coord.currentRound());
    }

    /* ----------------------- the handler is not vacuous ------------------- */

    /// 18 sybils commit in one round (more than MAX_SLASH), the honest 8 finalize it with
    /// the 16 chosen by the node's priority slashed, the rest untouched.
    function test_LivenessWithEighteenSybils() public {
        handler.livenessRound(0);
        vm.assertEq(handler.ghostLivenessRuns(), 1);
        vm.assertEq(handler.ghostLivenessOverCap(), 1);
        vm.assertEq(handler.ghostMaxInvalidCommitters(), 18);
        uint256 slashedSybils;
        for (uint256 i = 8; i < 26; ++i) {
            if (handler.slashed(handler.actors(i)) != 0) slashedSybils += 1;
        }
        vm.assertEq(slashedSybils, 16);
        for (uint256 i; i < 8; ++i) {
            vm.assertEq(handler.slashed(handler.actors(i)), 0);
        }
        invariant_TokensConserved();
    }

    /// A round finalizes, rewards are claimed, the rest is swept after the claim period;
    /// late claims and a second sweep are refused.
    function test_ClaimThenSweep() public {
        handler.livenessRound(0);
        handler.claim(0, 1, 0); // valid
        handler.claim(1, 1, 4); // wrong amount
        handler.claim(2, 1, 5); // another leaf's proof
        handler.claim(3, 1, 6); // someone else's leaf
        vm.assertEq(handler.ghostClaims(), 1);
        handler.sweep(1); // too early
        vm.assertEq(handler.ghostSweeps(), 0);
        handler.warpFar(6000);
        handler.warpFar(6000);
        handler.claimVoter(0, 1); // too late
        handler.claim(4, 1, 0); // too late
        handler.sweep(1);
        vm.assertEq(handler.ghostSweeps(), 1);
        handler.sweep(1); // nothing left
        vm.assertEq(handler.ghostSweeps(), 1);
        invariant_TokensConserved();
    }

    /// The finalizing vote and advance() in one block: the grace holds the round.
    function test_SameBlockAdvanceRefused() public {
        handler.livenessRound(0); // round 1 finalized by the honest 8
        handler.advance(); // same block: GraceActive
        vm.assertEq(coord.currentRound(), 1);
        handler.warp(16);
        handler.advance();
        vm.assertEq(coord.currentRound(), 2);
        invariant_CallsAndParams();
    }

    /// Ineligible accounts cannot commit or vote: an outsider, a sybil registered in this
    /// round, and a malformed (over-cap) list.
    function test_IneligibleRefused() public {
        handler.advance(); // round 1 with the bootstrapped members
        handler.register(25, 100e18); // sybil 25 registers during round 1
        handler.commit(25);
        handler.commit(27); // outsider
        vm.assertEq(coord.roundInfo(1).commitCount, 0);
        handler.commit(0);
        vm.assertEq(coord.roundInfo(1).commitCount, 1);
        handler.warp(400);
        handler.warp(400);
        handler.voteMalformed(0, 0);
        vm.assertTrue(!coord.hasVoted(1, handler.actors(0)));
        handler.vote(25, 1);
        vm.assertTrue(!coord.hasVoted(1, handler.actors(25)));
        handler.vote(0, 1);
        vm.assertTrue(coord.hasVoted(1, handler.actors(0)));
        invariant_CallsAndParams();
    }

    /// A drawn committee of 3: everyone tries to commit, only the 3 members get in (the
    /// others are refused with NotSelected) and the window closes at 3 commits.
    function test_CommitteeOnlyMembersCommit() public {
        handler.setCommittee(3);
        handler.advance();
        vm.assertTrue(handler.sampled(1));
        vm.assertEq(coord.roundInfo(1).eligibleCount, 3);
        handler.commitSome(type(uint256).max);
        vm.assertEq(coord.roundInfo(1).commitCount, 3);
        vm.assertTrue(coord.roundInfo(1).closedAt != 0);
        handler.honestVotes(0);
        for (uint256 i; i < ACTORS; ++i) {
            handler.vote(i, 0);
        }
        invariant_RoundsAndStakes();
        invariant_CallsAndParams();
    }
}
