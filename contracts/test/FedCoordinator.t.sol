// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Fixture} from "./utils/Fixture.sol";
import {Merkle} from "./utils/Merkle.sol";
import {FedCoordinator} from "../src/FedCoordinator.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

contract ConstructorTest is Fixture {
    function test_StoresDeployment() public view {
        vm.assertEq(address(coord.token()), address(token));
        vm.assertEq(coord.taskId(), TASK);
        vm.assertEq(coord.genesisModelCid(), GENESIS);
        vm.assertEq(coord.latestModelCid(), GENESIS);
        vm.assertEq(coord.owner(), address(this));
        vm.assertEq(coord.currentRound(), 0);
        vm.assertEq(coord.treasury(), TREASURY);
        IFedCoordinator.Params memory p = coord.params();
        vm.assertEq(p.minStake, MIN_STAKE);
        vm.assertEq(p.commitWindow, COMMIT_WINDOW);
        vm.assertEq(p.voteWindow, VOTE_WINDOW);
        vm.assertEq(p.rewardPerRound, REWARD);
        vm.assertEq(p.voterShareBps, VOTER_BPS);
        vm.assertEq(p.slashBps, SLASH_BPS);
        vm.assertEq(p.minParticipants, MIN_PARTICIPANTS);
        vm.assertEq(p.unstakeCooldown, COOLDOWN);
        vm.assertEq(p.lateVoteGrace, GRACE);
        vm.assertEq(p.claimPeriod, CLAIM_PERIOD);
        vm.assertEq(p.inactivityRounds, INACTIVITY_ROUNDS);
        vm.assertEq(p.inactivityLeakBps, LEAK_BPS);
        vm.assertEq(keccak256(abi.encode(coord.pendingParams())), keccak256(abi.encode(p)));
    }

    function test_RevertWhen_TokenZero() public {
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.InvalidParam.selector, "token"));
        new FedCoordinator(IERC20(address(0)), TASK, GENESIS, defaultParams());
    }

    function test_RevertWhen_GenesisCidEmpty() public {
        vm.expectRevert(IFedCoordinator.InvalidCid.selector);
        new FedCoordinator(token, TASK, "", defaultParams());
    }

    function test_RevertWhen_ParamsOutOfRange() public {
        IFedCoordinator.Params memory p = defaultParams();
        p.minStake = 0;
        _expectOutOfRange(p, "minStake", 0, 1, 1e30);
        p = defaultParams();
        p.minStake = 1e30 + 1;
        _expectOutOfRange(p, "minStake", 1e30 + 1, 1, 1e30);
        p = defaultParams();
        p.commitWindow = 9;
        _expectOutOfRange(p, "commitWindow", 9, 10, 30 days);
        p = defaultParams();
        p.voteWindow = 30 days + 1;
        _expectOutOfRange(p, "voteWindow", 30 days + 1, 10, 30 days);
        p = defaultParams();
        p.rewardPerRound = 1e30 + 1;
        _expectOutOfRange(p, "rewardPerRound", 1e30 + 1, 0, 1e30);
        p = defaultParams();
        p.voterShareBps = 5001;
        _expectOutOfRange(p, "voterShareBps", 5001, 0, 5000);
        p = defaultParams();
        p.slashBps = 5001;
        _expectOutOfRange(p, "slashBps", 5001, 0, 5000);
        p = defaultParams();
        p.minParticipants = 0;
        _expectOutOfRange(p, "minParticipants", 0, 1, 1000);
        p = defaultParams();
        p.minParticipants = 1001;
        _expectOutOfRange(p, "minParticipants", 1001, 1, 1000);
        p = defaultParams();
        p.unstakeCooldown = 59;
        _expectOutOfRange(p, "unstakeCooldown", 59, 60, 90 days);
        p = defaultParams();
        p.unstakeCooldown = 90 days + 1;
        _expectOutOfRange(p, "unstakeCooldown", 90 days + 1, 60, 90 days);
        p = defaultParams();
        p.lateVoteGrace = 30 days + 1;
        _expectOutOfRange(p, "lateVoteGrace", 30 days + 1, 0, 30 days);
        p = defaultParams();
        p.claimPeriod = 59;
        _expectOutOfRange(p, "claimPeriod", 59, 60, 365 days);
        p = defaultParams();
        p.claimPeriod = 365 days + 1;
        _expectOutOfRange(p, "claimPeriod", 365 days + 1, 60, 365 days);
        p = defaultParams();
        p.inactivityRounds = 0;
        _expectOutOfRange(p, "inactivityRounds", 0, 1, 1000);
        p = defaultParams();
        p.inactivityRounds = 1001;
        _expectOutOfRange(p, "inactivityRounds", 1001, 1, 1000);
        p = defaultParams();
        p.inactivityLeakBps = 1001;
        _expectOutOfRange(p, "inactivityLeakBps", 1001, 0, 1000);
    }

    function test_AcceptsBounds() public {
        IFedCoordinator.Params memory p = IFedCoordinator.Params({
            minStake: 1,
            commitWindow: 10,
            voteWindow: 30 days,
            rewardPerRound: 0,
            voterShareBps: 5000,
            slashBps: 0,
            minParticipants: 1000,
            unstakeCooldown: 60,
            lateVoteGrace: 0,
            claimPeriod: 60,
            inactivityRounds: 1,
            inactivityLeakBps: 0,
            committeeSize: 0,
            targetMetricBps: 0,
            patience: 0,
            maxRounds: 0
        });
        FedCoordinator c = new FedCoordinator(token, TASK, GENESIS, p);
        vm.assertEq(c.params().unstakeCooldown, 60);
        p.lateVoteGrace = 30 days;
        p.claimPeriod = 365 days;
        p.inactivityRounds = 1000;
        p.inactivityLeakBps = 1000;
        c = new FedCoordinator(token, TASK, GENESIS, p);
        vm.assertEq(c.params().inactivityLeakBps, 1000);
    }

    function _expectOutOfRange(
        IFedCoordinator.Params memory p,
        string memory name,
        uint256 value,
        uint256 min,
        uint256 max
    ) private {
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.ParamOutOfRange.selector, name, value, min, max)
        );
        new FedCoordinator(token, TASK, GENESIS, p);
    }
}

contract RegistryTest is Fixture {
    function test_Register() public {
        string[] memory a = addrs1();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Activated(alice, 1);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Registered(alice, 150e18, PEER, a);
        register(alice, 150e18);

        (uint256 s, bytes memory peerId, string[] memory addrs, bool active) =
            coord.participant(alice);
        vm.assertEq(s, 150e18);
        vm.assertEq(peerId, PEER);
        vm.assertEq(addrs.length, 1);
        vm.assertEq(addrs[0], a[0]);
        vm.assertTrue(active);
        vm.assertEq(coord.participantCount(), 1);
        vm.assertEq(coord.participantAt(0), alice);
        vm.assertEq(coord.activeCount(), 1);
        vm.assertEq(coord.activeStake(), 150e18);
        vm.assertEq(coord.totalStaked(), 150e18);
        vm.assertEq(token.balanceOf(alice), BALANCE - 150e18);
        vm.assertEq(token.balanceOf(address(coord)), TREASURY + 150e18);
    }

    function test_RevertWhen_RegisterBelowMinStake() public {
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.StakeTooLow.selector, MIN_STAKE - 1, MIN_STAKE)
        );
        register(alice, MIN_STAKE - 1);
    }

    function test_RevertWhen_RegisterTwice() public {
        register(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.AlreadyRegistered.selector, alice));
        register(alice, MIN_STAKE);
    }

    function test_RevertWhen_RegisterPeerIdInvalid() public {
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.InvalidPeerId.selector);
        coord.register(MIN_STAKE, "", addrs1());
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.InvalidPeerId.selector);
        coord.register(MIN_STAKE, new bytes(65), addrs1());
    }

    function test_RevertWhen_RegisterTooManyAddrs() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.TooManyAddrs.selector, 9, 8));
        coord.register(MIN_STAKE, PEER, new string[](9));
    }

    function test_RevertWhen_RegisterAddrTooLong() public {
        string[] memory a = new string[](2);
        a[1] = string(new bytes(257));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.AddrTooLong.selector, 1, 257, 256));
        coord.register(MIN_STAKE, PEER, a);
    }

    function test_RevertWhen_RegisterWithoutAllowance() public {
        vm.prank(alice);
        token.approve(address(coord), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(coord), 0, MIN_STAKE
            )
        );
        register(alice, MIN_STAKE);
    }

    function test_UpdatePeer() public {
        register(alice, MIN_STAKE);
        string[] memory a = new string[](2);
        a[0] = "/ip4/10.0.0.1/tcp/4001";
        a[1] = "/ip6/::1/tcp/4001";
        bytes memory newPeer = hex"00240801122022";
        vm.expectEmit(address(coord));
        emit IFedCoordinator.PeerUpdated(alice, newPeer, a);
        vm.prank(alice);
        coord.updatePeer(newPeer, a);
        (, bytes memory peerId, string[] memory addrs,) = coord.participant(alice);
        vm.assertEq(peerId, newPeer);
        vm.assertEq(addrs.length, 2);
        vm.assertEq(addrs[1], a[1]);
    }

    function test_RevertWhen_UpdatePeerUnregistered() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotRegistered.selector, alice));
        coord.updatePeer(PEER, addrs1());
    }

    function test_RevertWhen_UpdatePeerInvalid() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.InvalidPeerId.selector);
        coord.updatePeer("", addrs1());
    }

    function test_Stake() public {
        register(alice, MIN_STAKE);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Staked(alice, 50e18, MIN_STAKE + 50e18);
        vm.prank(alice);
        coord.stake(50e18);
        (uint256 s,,,) = coord.participant(alice);
        vm.assertEq(s, MIN_STAKE + 50e18);
        vm.assertEq(coord.activeStake(), MIN_STAKE + 50e18);
        vm.assertEq(coord.totalStaked(), MIN_STAKE + 50e18);
    }

    function test_RevertWhen_StakeZero() public {
        register(alice, MIN_STAKE);
        vm.prank(alice);
        vm.expectRevert(IFedCoordinator.AmountZero.selector);
        coord.stake(0);
    }

    function test_RevertWhen_StakeUnregistered() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotRegistered.selector, alice));
        coord.stake(1);
    }

    function test_StakeMidRoundDoesNotChangeWeight() public {
        uint256 round = openRoundWithThree();
        vm.prank(alice);
        coord.stake(900e18);
        vm.assertEq(coord.stakeAtOpen(round, alice), MIN_STAKE);
        vm.assertEq(coord.roundInfo(round).stakeSnapshot, 3 * MIN_STAKE);
        vm.prank(alice);
        coord.stake(1e18);
        vm.assertEq(coord.stakeAtOpen(round, alice), MIN_STAKE);
        vm.assertEq(coord.stakeAtOpen(round + 1, alice), MIN_STAKE + 901e18);
    }

    function test_FundTreasury() public {
        vm.expectEmit(address(coord));
        emit IFedCoordinator.TreasuryFunded(address(this), 7);
        coord.fundTreasury(7);
        vm.assertEq(coord.treasury(), TREASURY + 7);
    }

    function test_RevertWhen_FundTreasuryZero() public {
        vm.expectRevert(IFedCoordinator.AmountZero.selector);
        coord.fundTreasury(0);
    }
}

contract AdvanceTest is Fixture {
    function test_RevertWhen_NotEnoughParticipants() public {
        register(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotEnoughParticipants.selector, 1, 3)
        );
        coord.advance();
    }

    function test_OpensFirstRound() public {
        register(alice, MIN_STAKE);
        register(bob, 200e18);
        register(carol, MIN_STAKE);
        uint64 t = uint64(block.timestamp);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.RoundOpened(
            1,
            t + COMMIT_WINDOW,
            t + COMMIT_WINDOW + VOTE_WINDOW,
            3,
            400e18,
            REWARD - REWARD * VOTER_BPS / 10_000,
            REWARD * VOTER_BPS / 10_000
        );
        vm.assertEq(coord.advance(), 1);
        vm.assertEq(coord.currentRound(), 1);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(1);
        vm.assertEq(uint256(info.status), uint256(IFedCoordinator.RoundStatus.Open));
        vm.assertEq(info.openedAt, t);
        vm.assertEq(info.commitDeadline, t + COMMIT_WINDOW);
        vm.assertEq(info.closedAt, 0);
        vm.assertEq(info.voteDeadline, t + COMMIT_WINDOW + VOTE_WINDOW);
        vm.assertEq(info.eligibleCount, 3);
        vm.assertEq(info.stakeSnapshot, 400e18);
    }

    function test_RevertWhen_RoundInProgress() public {
        uint256 round = openRoundWithThree();
        uint256 deadline = coord.roundInfo(round).voteDeadline;
        vm.warp(deadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.RoundInProgress.selector, round, deadline)
        );
        coord.advance();
    }

    function test_OpensNextAfterFinalized() public {
        finalizeRoundOne(bytes32(0));
        afterGrace();
        vm.assertEq(coord.advance(), 2);
        vm.assertEq(uint256(coord.roundInfo(2).status), uint256(IFedCoordinator.RoundStatus.Open));
    }

    function test_FailsExpiredRoundAndOpensNext() public {
        uint256 round = openRoundWithThree();
        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.RoundFailed(round, REWARD);
        vm.assertEq(coord.advance(), 2);
        vm.assertEq(uint256(coord.roundInfo(1).status), uint256(IFedCoordinator.RoundStatus.Failed));
        vm.assertEq(coord.latestModelCid(), GENESIS);
    }

    function test_RevertWhen_SlashLeavesTooFewActive() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        vm.assertEq(coord.activeCount(), 2);
        afterGrace();
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotEnoughParticipants.selector, 2, 3)
        );
        coord.advance();
    }

    function test_RevertWhen_Paused() public {
        register(alice, MIN_STAKE);
        register(bob, MIN_STAKE);
        register(carol, MIN_STAKE);
        coord.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        coord.advance();
        coord.unpause();
        vm.assertEq(coord.advance(), 1);
    }

    function test_RevertWhen_PauseNotOwner() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        coord.pause();
        coord.pause();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        coord.unpause();
    }

    function test_OwnershipTwoStep() public {
        coord.transferOwnership(alice);
        vm.assertEq(coord.owner(), address(this));
        vm.prank(alice);
        coord.acceptOwnership();
        vm.assertEq(coord.owner(), alice);
    }
}

contract CommitTest is Fixture {
    function test_Commit() public {
        uint256 round = openRoundWithThree();
        bytes memory cid = cidOf(alice, round);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Committed(round, alice, cid);
        commitAs(alice, round);
        vm.assertEq(coord.commitmentOf(round, alice), keccak256(cid));
        vm.assertEq(coord.roundInfo(round).commitCount, 1);
    }

    function test_CommitGasUnder60k() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        bytes memory cid = cidOf(bob, round);
        vm.prank(bob);
        uint256 before = gasleft();
        coord.commit(round, cid);
        uint256 used = before - gasleft();
        // Execution only; the transaction adds 21k base + ~1.5k calldata (checked in the
        // Python integration test on real receipts).
        vm.assertLt(used, 60_000 - 21_000 - 2_000);
    }

    function test_ClosesEarlyWhenAllCommitted() public {
        uint256 round = openRoundWithThree();
        vm.warp(block.timestamp + 100);
        commitAs(alice, round);
        commitAs(bob, round);
        IFedCoordinator.RoundInfo memory before = coord.roundInfo(round);
        uint64 t = uint64(block.timestamp);
        uint64 expectedDeadline = before.voteDeadline - (before.commitDeadline - t);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.CommitClosed(round, t, expectedDeadline);
        commitAs(carol, round);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.closedAt, t);
        vm.assertEq(info.voteDeadline, t + VOTE_WINDOW);
        vm.assertEq(info.commitDeadline, before.commitDeadline);
        vm.assertEq(info.commitCount, 3);
    }

    function test_RevertWhen_CommitNoRound() public {
        register(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotOpen.selector, 0));
        commitAs(alice, 0);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.RoundNotOpen.selector, 5));
        commitAs(alice, 5);
    }

    function test_RevertWhen_CommitAfterDeadline() public {
        uint256 round = openRoundWithThree();
        vm.warp(coord.roundInfo(round).commitDeadline);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.CommitWindowClosed.selector, round));
        commitAs(alice, round);
    }

    function test_RevertWhen_CommitAfterEarlyClose() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
        register(dave, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.CommitWindowClosed.selector, round));
        commitAs(dave, round);
    }

    function test_RevertWhen_CommitterJoinedAfterOpen() public {
        uint256 round = openRoundWithThree();
        register(dave, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, dave));
        commitAs(dave, round);
    }

    function test_RevertWhen_CommitterUnregistered() public {
        uint256 round = openRoundWithThree();
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, dave));
        commitAs(dave, round);
    }

    function test_RevertWhen_CommitTwice() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.AlreadyCommitted.selector, round, alice)
        );
        commitAs(alice, round);
    }

    function test_RevertWhen_CommitCidInvalid() public {
        uint256 round = openRoundWithThree();
        vm.startPrank(alice);
        vm.expectRevert(IFedCoordinator.InvalidCid.selector);
        coord.commit(round, "");
        vm.expectRevert(IFedCoordinator.InvalidCid.selector);
        coord.commit(round, new bytes(129));
        vm.expectRevert(IFedCoordinator.InvalidCid.selector);
        coord.commit(round, hex"1220aaaa"); // a CIDv0 / bare multihash
        vm.stopPrank();
    }
}

contract OutcomeTest is Fixture {
    function _openAndCommit() private returns (uint256 round) {
        round = openRoundWithThree();
        commitAs(alice, round);
        commitAs(bob, round);
        commitAs(carol, round);
    }

    function test_FinalizesAtTwoThirds() public {
        uint256 round = _openAndCommit();
        bytes32 root = keccak256("root");
        address[] memory none = new address[](0);
        bytes32 outcome = coord.outcomeIdOf(MODEL, root, none);
        vm.assertEq(outcome, keccak256(abi.encode(keccak256(MODEL), root, none)));

        vm.expectEmit(address(coord));
        emit IFedCoordinator.OutcomeSubmitted(round, alice, outcome, MIN_STAKE, METRIC);
        vm.recordLogs();
        vote(alice, round, MODEL, root);
        vm.assertEq(coord.votesFor(round, outcome), MIN_STAKE);
        vm.assertTrue(coord.hasVoted(round, alice));
        vm.assertFalse(coord.hasVoted(round, bob));
        vm.assertEq(
            uint256(coord.roundInfo(round).status), uint256(IFedCoordinator.RoundStatus.Open)
        );

        vm.expectEmit(address(coord));
        emit IFedCoordinator.Finalized(round, MODEL, root, outcome, none, 0);
        vote(bob, round, MODEL, root);

        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(uint256(info.status), uint256(IFedCoordinator.RoundStatus.Finalized));
        vm.assertEq(info.rewardRoot, root);
        vm.assertEq(bytes32(info.outcomeKey), bytes32(bytes16(outcome)));
        vm.assertEq(info.voterPool, REWARD * VOTER_BPS / 10_000);
        vm.assertEq(info.contributorPool, REWARD - REWARD * VOTER_BPS / 10_000);
        vm.assertEq(info.winningWeight, 2 * MIN_STAKE);
        vm.assertEq(coord.treasury(), TREASURY - REWARD);
        vm.assertEq(coord.latestModelCid(), MODEL);
    }

    function test_PoolCappedByTreasury() public {
        // A fresh coordinator whose treasury holds less than one round's reward.
        coord = new FedCoordinator(token, TASK, GENESIS, defaultParams());
        address[3] memory who = [alice, bob, carol];
        for (uint256 i; i < 3; ++i) {
            vm.prank(who[i]);
            token.approve(address(coord), type(uint256).max);
        }
        token.approve(address(coord), 10e18);
        coord.fundTreasury(10e18);
        bytes32[] memory leaves = new bytes32[](1);
        leaves[0] = keccak256("leaf");
        finalizeRoundOne(Merkle.root(leaves));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(1);
        vm.assertEq(info.voterPool + info.contributorPool, 10e18);
        vm.assertEq(info.voterPool, 2e18);
        vm.assertEq(coord.treasury(), 0);
    }

    function test_SplitVoteDoesNotFinalize() public {
        uint256 round = _openAndCommit();
        vote(alice, round, MODEL, bytes32(0));
        vote(bob, round, OTHER_MODEL, bytes32(0));
        vote(carol, round, OTHER_MODEL, keccak256("x"));
        vm.assertEq(
            uint256(coord.roundInfo(round).status), uint256(IFedCoordinator.RoundStatus.Open)
        );
        vm.assertEq(coord.latestModelCid(), GENESIS);
    }

    function test_SlashesListedParticipants() public {
        uint256 round = _openAndCommit();
        address[] memory slash = new address[](2);
        (slash[0], slash[1]) = carol < dave ? (carol, dave) : (dave, carol);
        voteSlash(alice, round, bytes32(0), slash);
        uint256 slashed = MIN_STAKE * SLASH_BPS / 10_000;
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Deactivated(carol);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Slashed(round, carol, slashed);
        voteSlash(bob, round, bytes32(0), slash);

        (uint256 s,,, bool active) = coord.participant(carol);
        vm.assertEq(s, MIN_STAKE - slashed);
        vm.assertFalse(active);
        vm.assertEq(coord.activeCount(), 2);
        vm.assertEq(coord.activeStake(), 2 * MIN_STAKE);
        vm.assertEq(coord.totalStaked(), 3 * MIN_STAKE - slashed);
        // Root 0: the contributor pool went back to the treasury.
        vm.assertEq(coord.treasury(), TREASURY - VOTER_POOL + slashed);
        // Carol's voting weight for the round she was slashed in is still her opening stake.
        vm.assertEq(coord.stakeAtOpen(round, carol), MIN_STAKE);
    }

    function test_SlashedParticipantReactivatesByStaking() public {
        uint256 round = _openAndCommit();
        address[] memory slash = new address[](1);
        slash[0] = carol;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        vm.expectEmit(address(coord));
        emit IFedCoordinator.Activated(carol, round + 1);
        vm.prank(carol);
        coord.stake(MIN_STAKE);
        vm.assertEq(coord.activeCount(), 3);
        vm.assertEq(coord.activeStake(), 3 * MIN_STAKE + MIN_STAKE / 2);
        afterGrace();
        vm.assertEq(coord.advance(), 2);
    }

    function test_LateWinningVoteCounts() public {
        uint256 round = _openAndCommit();
        vote(alice, round, MODEL, bytes32(0));
        vote(bob, round, MODEL, bytes32(0));
        vote(carol, round, MODEL, bytes32(0));
        vm.assertEq(coord.roundInfo(round).winningWeight, 3 * MIN_STAKE);
        vm.assertEq(coord.latestModelCid(), MODEL);
    }

    function test_LateDissentingVoteRecorded() public {
        uint256 round = _openAndCommit();
        vote(alice, round, MODEL, bytes32(0));
        vote(bob, round, MODEL, bytes32(0));
        vote(carol, round, OTHER_MODEL, bytes32(0));
        vm.assertEq(coord.roundInfo(round).winningWeight, 2 * MIN_STAKE);
        vm.assertEq(coord.latestModelCid(), MODEL);
        vm.assertTrue(coord.hasVoted(round, carol));
    }

    function test_RevertWhen_VoteBeforeCommitClose() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        uint256 closes = coord.roundInfo(round).commitDeadline;
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.VoteWindowNotOpen.selector, round, closes)
        );
        vote(alice, round, MODEL, bytes32(0));
    }

    function test_VoteAfterCommitDeadlineWithoutAllCommits() public {
        uint256 round = openRoundWithThree();
        commitAs(alice, round);
        vm.warp(coord.roundInfo(round).commitDeadline);
        vote(alice, round, MODEL, bytes32(0));
        vm.assertTrue(coord.hasVoted(round, alice));
    }

    function test_RevertWhen_VoteAfterDeadline() public {
        uint256 round = _openAndCommit();
        vm.warp(coord.roundInfo(round).voteDeadline);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.VoteWindowClosed.selector, round));
        vote(alice, round, MODEL, bytes32(0));
    }

    function test_RevertWhen_VoteNotCurrentRound() public {
        uint256 round = _openAndCommit();
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotCurrentRound.selector, round + 1, round)
        );
        vote(alice, round + 1, MODEL, bytes32(0));
    }

    function test_RevertWhen_VoteOnFailedRound() public {
        uint256 round = openRoundWithThree();
        vm.warp(coord.roundInfo(round).voteDeadline);
        coord.advance();
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotCurrentRound.selector, round, round + 1)
        );
        vote(alice, round, MODEL, bytes32(0));
    }

    function test_RevertWhen_VoterNotEligible() public {
        uint256 round = _openAndCommit();
        register(dave, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, dave));
        vote(dave, round, MODEL, bytes32(0));
    }

    function test_RevertWhen_VoteTwice() public {
        uint256 round = _openAndCommit();
        vote(alice, round, MODEL, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.AlreadyVoted.selector, round, alice));
        vote(alice, round, OTHER_MODEL, bytes32(0));
    }

    function test_RevertWhen_SlashListTooLong() public {
        uint256 round = _openAndCommit();
        address[] memory slash = new address[](17);
        for (uint256 i; i < 17; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            slash[i] = address(uint160(i + 1));
        }
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.SlashListTooLong.selector, 17, 16));
        voteSlash(alice, round, bytes32(0), slash);
    }

    function test_RevertWhen_SlashListUnsorted() public {
        uint256 round = _openAndCommit();
        address[] memory slash = new address[](3);
        slash[0] = address(1);
        slash[1] = address(3);
        slash[2] = address(3);
        vm.expectRevert(abi.encodeWithSelector(IFedCoordinator.SlashListUnsorted.selector, 2));
        voteSlash(alice, round, bytes32(0), slash);
    }

    function test_RevertWhen_ModelCidInvalid() public {
        uint256 round = _openAndCommit();
        vm.expectRevert(IFedCoordinator.InvalidCid.selector);
        vote(alice, round, "", bytes32(0));
    }

    function test_SlashingUnknownAddressIsNoop() public {
        uint256 round = _openAndCommit();
        address[] memory slash = new address[](1);
        slash[0] = dave;
        voteSlash(alice, round, bytes32(0), slash);
        voteSlash(bob, round, bytes32(0), slash);
        vm.assertEq(coord.treasury(), TREASURY - VOTER_POOL);
    }
}
