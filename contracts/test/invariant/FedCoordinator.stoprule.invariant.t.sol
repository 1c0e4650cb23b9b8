// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../utils/Test.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";

/// @notice Drives rounds with random metrics, voter pairs, failed rounds, late votes, voter
///         claims, unstakes and owner changes of the stop rule, replaying the rule in ghost
///         variables. Every call that reverts unexpectedly, or does not revert when due,
///         counts as a violation.
contract StopRuleHandler is Test {
    uint256 internal constant BPS = 10_000;
    bytes internal constant MODEL =
        hex"01551220bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    FedCoordinator public immutable coord;
    FedToken public immutable token;
    address[3] public actors;
    uint256[3] public stakes;

    // Ghost replay of the stop rule.
    uint256 public ghostFinalized;
    uint256 public ghostBest;
    uint256 public ghostSince;
    uint256 public ghostFinishedRound;
    uint256 public ghostMetricSum; // sum of every finalized round's agreed metric
    uint256 public ghostPaidOut; // voter rewards and withdrawals: tokens that left
    uint256 public violations;
    mapping(uint256 round => uint256 metric) public ghostMetric;
    // the stop rule of the round open now (staged values apply at the next opening)
    uint256[3] internal _rule;
    uint256[3] internal _staged;

    constructor(FedCoordinator coord_, FedToken token_, address[3] memory actors_) {
        coord = coord_;
        token = token_;
        actors = actors_;
        stakes = [uint256(100e18), 200e18, 100e18];
        IFedCoordinator.Params memory p = coord_.params();
        _rule = [uint256(p.targetMetricBps), p.patience, p.maxRounds];
        _staged = _rule;
    }

    /// @dev Open the next round, everyone commits, two voters finalize with random metrics,
    ///      maybe the third votes late.
    function playRound(uint256 seed) external {
        if (!_open()) return;
        uint256 round = coord.currentRound();
        for (uint256 i; i < 3; ++i) {
            vm.prank(actors[i]);
            coord.commit(round, abi.encodePacked(hex"01551220", keccak256(abi.encode(round, i))));
        }
        // A pair holding 300 of the 400 snapshot finalizes: (0,1), (1,2) or (0,1) again.
        uint256 first = seed % 2;
        uint256[2] memory who = [first, first + 1];
        uint256 mass;
        uint256 weight;
        for (uint256 k; k < 2; ++k) {
            uint16 metric = uint16(uint256(keccak256(abi.encode(seed, k))) % (BPS + 1));
            if ((seed >> (8 + k)) % 4 == 0) metric = uint16(ghostBest); // ties with the best
            _vote(actors[who[k]], round, metric);
            mass += stakes[who[k]] * metric / BPS;
            weight += stakes[who[k]];
        }
        _record(round, mass * BPS / weight);
        if ((seed >> 16) % 2 == 0) {
            uint256 third = first == 0 ? 2 : 0;
            _vote(actors[third], round, uint16((seed >> 24) % (BPS + 1))); // late: no effect
        }
    }

    /// @dev Open a round nobody votes in; it fails at its deadline (not a finalized round).
    function failRound() external {
        if (!_open()) return;
        vm.warp(coord.roundInfo(coord.currentRound()).voteDeadline);
    }

    /// @dev The owner stages another stop rule (in force from the next opening).
    function setStopRule(uint16 target, uint32 patience, uint32 maxRounds) external {
        // Each condition is off two times in three, so each gets to decide some runs.
        target = target % 3 == 0 ? uint16(bound(target, 0, BPS)) : 0;
        patience = patience % 3 == 0 ? uint32(bound(patience, 0, 4)) : 0;
        maxRounds = maxRounds % 3 == 0 ? uint32(bound(maxRounds, 0, 12)) : 0;
        coord.setStopRule(target, patience, maxRounds); // the handler deployed it: owner
        _staged = [uint256(target), patience, maxRounds];
    }

    /// @dev A winning voter of a finalized round claims once it may (also after the end).
    function claimVoterReward(uint256 actor, uint256 round) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        round = bound(round, 1, current);
        address who = actors[actor % 3];
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        (bytes16 key,, bool claimed) = coord.voteOf(round, who);
        bool due = info.status == IFedCoordinator.RoundStatus.Finalized && key == info.outcomeKey
            && !claimed && (block.timestamp >= info.voteDeadline || round != current)
            && block.timestamp < coord.claimDeadline(round);
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        try coord.claimVoterReward(round) {
            if (!due) violations += 1;
            ghostPaidOut += token.balanceOf(who) - before;
        } catch {
            if (due) violations += 1;
        }
    }

    /// @dev After the end: unstake everything and withdraw once unlocked (stake never stuck).
    function leave(uint256 actor) external {
        if (!coord.finished()) return;
        address who = actors[actor % 3];
        (uint256 stake, uint256 unbonding, uint256 unlockAt,,) = coord.stakeInfo(who);
        if (stake + unbonding == 0) return; // left already
        vm.startPrank(who);
        if (stake != 0) coord.requestUnstake(stake);
        (,, unlockAt,,) = coord.stakeInfo(who);
        vm.warp(unlockAt > block.timestamp ? unlockAt : block.timestamp);
        uint256 before = token.balanceOf(who);
        coord.withdraw();
        vm.stopPrank();
        if (token.balanceOf(who) - before != stake + unbonding) violations += 1;
        ghostPaidOut += stake + unbonding;
    }

    function _vote(address who, uint256 round, uint16 metric) internal {
        vm.prank(who);
        coord.submitOutcome(round, MODEL, bytes32(0), new address[](0), metric);
    }

    /// @dev Moves the clock past the current round and opens the next one; false once the
    ///      deployment finished (advance must then revert DeploymentOver).
    function _open() internal returns (bool) {
        uint256 current = coord.currentRound();
        if (current != 0) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(current);
            uint256 until = info.status == IFedCoordinator.RoundStatus.Finalized
                ? info.finalizedAt + coord.params().lateVoteGrace
                : info.voteDeadline;
            if (block.timestamp < until) vm.warp(until);
        }
        try coord.advance() {
            if (ghostFinishedRound != 0) violations += 1;
            _rule = _staged;
            return true;
        } catch (bytes memory reason) {
            bytes memory due =
                abi.encodeWithSelector(IFedCoordinator.DeploymentOver.selector, ghostFinishedRound);
            if (ghostFinishedRound == 0 || keccak256(reason) != keccak256(due)) violations += 1;
            return false;
        }
    }

    function _record(uint256 round, uint256 metric) internal {
        ghostMetric[round] = metric;
        ghostMetricSum += metric;
        ghostFinalized += 1;
        if (metric > ghostBest) (ghostBest, ghostSince) = (metric, 0);
        else ghostSince += 1;
        (uint256 target, uint256 patience, uint256 cap) = (_rule[0], _rule[1], _rule[2]);
        if (
            (target != 0 && metric >= target) || (patience != 0 && ghostSince >= patience)
                || (cap != 0 && ghostFinalized >= cap)
        ) ghostFinishedRound = round;
    }
}

/// @notice Invariants of the stop rule under StopRuleHandler: the chain's agreed metrics and
///         finish match the replay, their ghost sum matches, no round opens after the end,
///         and every token is accounted for.
contract FedCoordinatorStopRuleInvariantTest is Test {
    FedToken internal token;
    FedCoordinator internal coord;
    StopRuleHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new FedToken("Fedchain Token", "FED", address(this), 1e27);
        address[3] memory actors = [vm.addr(11), vm.addr(12), vm.addr(13)];
        IFedCoordinator.Params memory p = IFedCoordinator.Params({
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
            inactivityRounds: 1000,
            inactivityLeakBps: 100,
            committeeSize: 0,
            targetMetricBps: 0,
            patience: 0,
            maxRounds: 6
        });
        coord = new FedCoordinator(
            token,
            keccak256("task"),
            hex"01551220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            p
        );
        token.approve(address(coord), type(uint256).max);
        coord.fundTreasury(100_000e18);
        handler = new StopRuleHandler(coord, token, actors);
        coord.transferOwnership(address(handler));
        vm.prank(address(handler));
        coord.acceptOwnership();
        uint256[3] memory stakes = [uint256(100e18), 200e18, 100e18];
        for (uint256 i; i < 3; ++i) {
            token.transfer(actors[i], stakes[i]);
            vm.startPrank(actors[i]);
            token.approve(address(coord), type(uint256).max);
            string[] memory addrs = new string[](0);
            coord.register(stakes[i], hex"0024080112201111", addrs);
            vm.stopPrank();
        }
        targetContract(address(handler));
    }

    function invariant_NoViolations() public view {
        vm.assertEq(handler.violations(), 0, "unexpected revert or missing revert");
    }

    function invariant_AgreedMetricsMatchReplay() public view {
        uint256 sum = 0;
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            vm.assertEq(coord.agreedMetric(r), handler.ghostMetric(r));
            sum += coord.agreedMetric(r);
        }
        vm.assertEq(sum, handler.ghostMetricSum(), "ghost sum of agreed metrics");
    }

    function invariant_FinishMatchesReplay() public view {
        uint256 ended = handler.ghostFinishedRound();
        vm.assertEq(coord.finished(), ended != 0);
        if (ended != 0) {
            vm.assertEq(coord.currentRound(), ended); // nothing opened after the end
            vm.assertEq(coord.finalModelCid(), coord.latestModelCid());
        } else {
            vm.assertEq(coord.finalModelCid().length, 0);
        }
    }

    /// Every token: staked, unbonding, treasury, pools not yet claimed, or paid out.
    function invariant_TokensConserved() public view {
        uint256 pools = 0;
        uint256 current = coord.currentRound();
        for (uint256 r = 1; r <= current; ++r) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(r);
            pools += info.contributorPool + info.voterPool - info.contributorClaimed
            - info.voterClaimed;
        }
        uint256 held = coord.totalStaked() + coord.totalUnbonding() + coord.treasury() + pools;
        vm.assertEq(token.balanceOf(address(coord)), held);
        vm.assertEq(held + handler.ghostPaidOut(), 100_000e18 + 400e18);
    }
}
