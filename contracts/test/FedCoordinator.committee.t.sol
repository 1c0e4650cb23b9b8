// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CommitteeFixture} from "./utils/CommitteeFixture.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";
import {FedCoordinator} from "../src/FedCoordinator.sol";

/// @notice Per-round committees: the draw, who may commit and vote, quorum and early close
///         over the members, K >= active means everyone, the staged setter.
contract CommitteeTest is CommitteeFixture {
    bytes32 internal constant RANDAO = keccak256("randao");

    /// 8 people with stakes 1..8 x MIN_STAKE, K = 3, round 1 open.
    function _openEightOfThree() internal returns (uint256 round, address[] memory members) {
        uint256[] memory stakes = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            stakes[i] = (i + 1) * MIN_STAKE;
        }
        registerPeople(stakes);
        setCommitteeSize(3);
        (round, members) = openWith(RANDAO);
    }

    function _isMember(address[] memory members, address who) internal pure returns (bool) {
        for (uint256 i; i < members.length; ++i) {
            if (members[i] == who) return true;
        }
        return false;
    }

    function _outsider(address[] memory members) internal view returns (address who) {
        for (uint256 i; i < 8; ++i) {
            if (!_isMember(members, people[i])) return people[i];
        }
        revert("no outsider");
    }

    function test_DrawFollowsTheRule() public {
        uint256[] memory stakes = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            stakes[i] = (i + 1) * MIN_STAKE;
        }
        registerPeople(stakes);
        setCommitteeSize(3);
        uint256[] memory weights = registryWeights();
        (uint256 round, address[] memory members) = openWith(RANDAO);
        uint256 sum = assertReplays(RANDAO, round, weights, 3, members);
        vm.assertEq(coord.committeeSeed(round), expectedSeed(RANDAO, round));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.eligibleCount, 3);
        vm.assertEq(info.stakeSnapshot, sum);
        // The tree is restored: the active stake is unchanged by the draw.
        vm.assertEq(coord.activeStake(), 36 * MIN_STAKE);
    }

    function test_MembersDistinctAndIsSelectedExact() public {
        (uint256 round, address[] memory members) = _openEightOfThree();
        for (uint256 i; i < members.length; ++i) {
            for (uint256 j; j < i; ++j) {
                vm.assertTrue(members[i] != members[j], "distinct");
            }
        }
        uint256 selected = 0;
        for (uint256 i; i < 8; ++i) {
            bool member = _isMember(members, people[i]);
            vm.assertEq(coord.isSelected(round, people[i]), member);
            if (member) selected += 1;
        }
        vm.assertEq(selected, 3);
        vm.assertFalse(coord.isSelected(round, alice)); // never registered
    }

    function test_SameRandaoSameCommitteeOtherRandaoOther() public {
        (uint256 round, address[] memory first) = _openEightOfThree();
        // Replaying the rule from the chain's data gives the same members.
        vm.assertEq(coord.committeeSeed(round), expectedSeed(RANDAO, round));
        vm.warp(coord.roundInfo(round).voteDeadline);
        (uint256 next, address[] memory second) = openWith(keccak256("other"));
        vm.assertEq(next, round + 1);
        vm.assertTrue(coord.committeeSeed(next) != coord.committeeSeed(round));
        vm.assertEq(second.length, first.length);
    }

    function test_RevertWhen_UnselectedCommits() public {
        (uint256 round, address[] memory members) = _openEightOfThree();
        address outsider = _outsider(members);
        vm.prank(outsider);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotSelected.selector, round, outsider)
        );
        coord.commit(round, cidOf(outsider, round));
        commitAs(members[0], round); // a member may
    }

    function test_RevertWhen_UnselectedVotes() public {
        (uint256 round, address[] memory members) = _openEightOfThree();
        address outsider = _outsider(members);
        vm.warp(coord.roundInfo(round).commitDeadline);
        vm.prank(outsider);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotSelected.selector, round, outsider)
        );
        coord.submitOutcome(round, MODEL, bytes32(0), new address[](0), METRIC);
    }

    function test_IneligibleBeatsNotSelected() public {
        (uint256 round,) = _openEightOfThree();
        vm.prank(people[20]); // registered during the round: not eligible yet
        coord.register(MIN_STAKE, PEER, addrs1());
        vm.prank(people[20]);
        vm.expectRevert(
            abi.encodeWithSelector(IFedCoordinator.NotEligible.selector, round, people[20])
        );
        coord.commit(round, cidOf(people[20], round));
    }

    function test_EarlyCloseAtKCommits() public {
        (uint256 round, address[] memory members) = _openEightOfThree();
        commitAs(members[0], round);
        commitAs(members[1], round);
        vm.assertEq(coord.roundInfo(round).closedAt, 0);
        commitAs(members[2], round);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.closedAt, block.timestamp);
        vm.assertEq(info.commitCount, 3);
    }

    function test_QuorumOverSelectedStake() public {
        (uint256 round, address[] memory members) = _openEightOfThree();
        for (uint256 i; i < 3; ++i) {
            commitAs(members[i], round);
        }
        uint256 snapshot = coord.roundInfo(round).stakeSnapshot;
        // Vote with members in ascending stake until 2/3 of the selected stake is reached.
        uint256[3] memory weight;
        for (uint256 i; i < 3; ++i) {
            weight[i] = coord.stakeAtOpen(round, members[i]);
        }
        uint256 votes = 0;
        for (uint256 i; i < 3; ++i) {
            // pick the lightest remaining
            uint256 best = 3;
            for (uint256 j; j < 3; ++j) {
                if (weight[j] != 0 && (best == 3 || weight[j] < weight[best])) best = j;
            }
            vote(members[best], round, MODEL, bytes32(0));
            votes += weight[best];
            weight[best] = 0;
            bool finalized = coord.roundInfo(round).status == IFedCoordinator.RoundStatus.Finalized;
            vm.assertEq(finalized, votes * 3 >= snapshot * 2);
            if (finalized) break;
        }
        vm.assertTrue(coord.roundInfo(round).status == IFedCoordinator.RoundStatus.Finalized);
        // The quorum is far below 2/3 of all active stake.
        vm.assertLt(coord.roundInfo(round).winningWeight * 3, coord.activeStake() * 2);
    }

    function test_CommitteeAtLeastActiveIsEveryone() public {
        registerPeople(equalStakes(4));
        setCommitteeSize(4);
        vm.recordLogs();
        (uint256 round, address[] memory members) = openWith(RANDAO);
        vm.assertEq(members.length, 0);
        vm.assertEq(coord.committeeSeed(round), bytes32(0));
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        vm.assertEq(info.eligibleCount, 4);
        vm.assertEq(info.stakeSnapshot, 4 * MIN_STAKE);
        for (uint256 i; i < 4; ++i) {
            vm.assertTrue(coord.isSelected(round, people[i]));
            commitAs(people[i], round);
        }
        vm.assertEq(coord.roundInfo(round).closedAt, block.timestamp);
    }

    function test_ZeroIsEveryone() public {
        registerPeople(equalStakes(5));
        (uint256 round, address[] memory members) = openWith(RANDAO);
        vm.assertEq(members.length, 0);
        vm.assertEq(coord.committeeSeed(round), bytes32(0));
        vm.assertEq(coord.roundInfo(round).eligibleCount, 5);
    }

    function test_SetCommitteeSizeIsStaged() public {
        registerPeople(equalStakes(5));
        uint256 round = coord.advance();
        vm.expectEmit(address(coord));
        emit IFedCoordinator.ParamUpdated("committeeSize", 0, 2);
        coord.setCommitteeSize(2);
        vm.assertEq(coord.params().committeeSize, 0);
        vm.assertEq(coord.pendingParams().committeeSize, 2);
        vm.assertEq(coord.roundInfo(round).eligibleCount, 5); // the open round is unchanged
        vm.warp(coord.roundInfo(round).voteDeadline);
        (uint256 next, address[] memory members) = openWith(RANDAO);
        vm.assertEq(coord.params().committeeSize, 2);
        vm.assertEq(members.length, 2);
        vm.assertEq(coord.roundInfo(next).eligibleCount, 2);
    }

    function test_RevertWhen_CommitteeSizeOutOfRange() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.ParamOutOfRange.selector, "committeeSize", 129, 0, 128
            )
        );
        coord.setCommitteeSize(129);
        coord.setCommitteeSize(128);
        vm.assertEq(coord.pendingParams().committeeSize, 128);
        vm.prank(alice);
        vm.expectRevert();
        coord.setCommitteeSize(1);
    }

    function test_RevertWhen_ConstructedWithCommitteeOverMax() public {
        IFedCoordinator.Params memory p = defaultParams();
        p.committeeSize = 129;
        vm.expectRevert(
            abi.encodeWithSelector(
                IFedCoordinator.ParamOutOfRange.selector, "committeeSize", 129, 0, 128
            )
        );
        new FedCoordinator(token, TASK, GENESIS, p);
        p.committeeSize = 128;
        vm.assertEq(new FedCoordinator(token, TASK, GENESIS, p).params().committeeSize, 128);
    }

    function test_InactiveAndZeroWeightNeverDrawn() public {
        registerPeople(equalStakes(8));
        // people[0..3] leave: their weight is 0 in the tree.
        for (uint256 i; i < 4; ++i) {
            vm.prank(people[i]);
            coord.requestUnstake(MIN_STAKE);
        }
        setCommitteeSize(3);
        for (uint256 r; r < 10; ++r) {
            (uint256 round, address[] memory members) = openWith(keccak256(abi.encode(r)));
            for (uint256 i; i < members.length; ++i) {
                vm.assertFalse(_isMember(_firstFour(), members[i]));
            }
            vm.warp(coord.roundInfo(round).voteDeadline);
        }
    }

    function _firstFour() internal view returns (address[] memory four) {
        four = new address[](4);
        for (uint256 i; i < 4; ++i) {
            four[i] = people[i];
        }
    }

    /// K = 1 over 400 openings: each participant is drawn in proportion to its stake.
    function test_DrawFrequencyFollowsStake() public {
        uint256[] memory stakes = new uint256[](4);
        for (uint256 i; i < 4; ++i) {
            stakes[i] = (i + 1) * MIN_STAKE;
        }
        registerPeople(stakes);
        setCommitteeSize(1);
        uint256[4] memory drawn;
        uint256 openings = 400;
        for (uint256 r; r < openings; ++r) {
            (uint256 round, address[] memory members) = openWith(keccak256(abi.encode("f", r)));
            for (uint256 i; i < 4; ++i) {
                if (members[0] == people[i]) drawn[i] += 1;
            }
            vm.warp(coord.roundInfo(round).voteDeadline);
        }
        // Expected 40, 80, 120, 160; within 4 standard deviations (4 * sqrt(400 p (1 - p))).
        uint256[4] memory tolerance = [uint256(24), 32, 37, 40];
        for (uint256 i; i < 4; ++i) {
            uint256 expected = openings * (i + 1) / 10;
            uint256 diff = drawn[i] > expected ? drawn[i] - expected : expected - drawn[i];
            vm.assertLe(diff, tolerance[i], "draw frequency");
        }
    }

    /// K = 1 of 4, nobody votes: each participant misses exactly the settled rounds it was
    /// drawn in, and only those drawn `inactivityRounds` times can be reported.
    function test_InactivityCountsOnlyDrawnRounds() public {
        registerPeople(equalStakes(4));
        setCommitteeSize(1);
        uint256[4] memory drawn;
        for (uint256 r; r < 14; ++r) {
            (uint256 round, address[] memory members) = openWith(keccak256(abi.encode("i", r)));
            for (uint256 i; i < 4; ++i) {
                // The current round is not counted while it can be voted.
                vm.assertEq(coord.missedRounds(people[i]), drawn[i]);
                if (members[0] == people[i]) drawn[i] += 1;
            }
            vm.warp(coord.roundInfo(round).voteDeadline);
        }
        uint256 reported = 0;
        for (uint256 i; i < 4; ++i) {
            uint256 settled = drawn[i] - (coord.isSelected(coord.currentRound(), people[i]) ? 1 : 0);
            vm.assertEq(coord.missedRounds(people[i]), settled);
            if (settled >= INACTIVITY_ROUNDS) {
                coord.reportInactive(people[i]);
                reported += 1;
            } else {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IFedCoordinator.NotInactive.selector, people[i], settled, INACTIVITY_ROUNDS
                    )
                );
                coord.reportInactive(people[i]);
            }
        }
        vm.assertGt(reported, 0);
        vm.assertLt(reported, 4);
    }

    /// A vote resets the count; an everyone round (K >= active) counts for all.
    function test_InactivityVoteResetsAndEveryoneRoundsCount() public {
        registerPeople(equalStakes(4));
        setCommitteeSize(2);
        (uint256 round, address[] memory members) = openWith(RANDAO);
        vm.warp(coord.roundInfo(round).commitDeadline);
        vote(members[0], round, MODEL, bytes32(0));
        vm.warp(coord.roundInfo(round).voteDeadline);
        setCommitteeSize(0);
        (uint256 next,) = openWith(RANDAO);
        vm.assertEq(coord.missedRounds(members[0]), 0); // voted in round 1
        vm.assertEq(coord.missedRounds(members[1]), 1); // drawn in round 1, no vote
        address outsider = _outsider4(members);
        vm.assertEq(coord.missedRounds(outsider), 0); // not drawn in round 1
        vm.warp(coord.roundInfo(next).voteDeadline);
        openWith(RANDAO);
        vm.assertEq(coord.missedRounds(members[0]), 1); // round 2 was everyone's
        vm.assertEq(coord.missedRounds(members[1]), 2);
        vm.assertEq(coord.missedRounds(outsider), 1);
    }

    function _outsider4(address[] memory members) internal view returns (address) {
        for (uint256 i; i < 4; ++i) {
            if (!_isMember(members, people[i])) return people[i];
        }
        revert("no outsider");
    }
}
