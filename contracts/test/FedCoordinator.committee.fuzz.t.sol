// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CommitteeFixture} from "./utils/CommitteeFixture.sol";
import {IFedCoordinator} from "../src/IFedCoordinator.sol";

/// @notice Fuzzed committees: any registry (stakes, departures), K and prevrandao give the
///         members the documented rule gives; inactivity counts exactly the rounds drawn in
///         (or open to everyone) since the last vote or activation.
contract CommitteeFuzzTest is CommitteeFixture {
    /// forge-config: default.fuzz.runs = 300
    /// forge-config: ci.fuzz.runs = 300
    function testFuzz_CommitteeReplays(bytes32 randao, uint256 seed, uint8 size, uint8 k_) public {
        uint256 n = bound(size, 2, 24);
        uint256[] memory stakes = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            stakes[i] = MIN_STAKE + uint256(keccak256(abi.encode(seed, i))) % (50 * MIN_STAKE);
        }
        registerPeople(stakes);
        // Some leave (weight 0), some leave partly.
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, "leave", i))) % 6;
            if (r == 0) {
                vm.prank(people[i]);
                coord.requestUnstake(stakes[i]);
            } else if (r == 1 && stakes[i] > 2 * MIN_STAKE) {
                vm.prank(people[i]);
                coord.requestUnstake(stakes[i] - MIN_STAKE);
            }
        }
        uint256 active = coord.activeCount();
        vm.assume(active >= MIN_PARTICIPANTS);
        uint256 k = bound(k_, 0, 128);
        setCommitteeSize(k);
        uint256[] memory weights = registryWeights();
        uint256 activeStake = coord.activeStake();
        (uint256 round, address[] memory members) = openWith(randao);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (k == 0 || k >= active) {
            vm.assertEq(members.length, 0);
            vm.assertEq(coord.committeeSeed(round), bytes32(0));
            vm.assertEq(info.eligibleCount, active);
            vm.assertEq(info.stakeSnapshot, activeStake);
        } else {
            uint256 sum = assertReplays(randao, round, weights, k, members);
            vm.assertEq(info.eligibleCount, k);
            vm.assertEq(info.stakeSnapshot, sum);
            uint256 selected = 0;
            for (uint256 i; i < n; ++i) {
                if (coord.isSelected(round, people[i])) {
                    selected += 1;
                    vm.assertTrue(weights[i] != 0, "inactive drawn");
                }
            }
            vm.assertEq(selected, k);
        }
        assertTreeMirrorsStakes();
    }

    /// Rounds with K in {0, 2, 3, 8} (8 >= active: everyone), random voters among those who
    /// may vote, departures and returns: missedRounds is the naive count.
    function testFuzz_MissedRoundsWithCommittees(uint256 seed) public {
        uint256 n = 6;
        registerPeople(equalStakes(n));
        uint256[6] memory lastVoted;
        for (uint256 step; step < 10; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            uint256[4] memory sizes = [uint256(0), 2, 3, 8];
            setCommitteeSize(sizes[r % 4]);
            (uint256 round,) = openWith(bytes32(r));
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
            vm.warp(info.commitDeadline);
            for (uint256 i; i < n; ++i) {
                address who = people[i];
                (,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
                bool may = active && activeFrom <= round && coord.isSelected(round, who);
                // Vote for an outcome of its own: nothing finalizes, everyone may vote.
                if (may && (r >> (8 + i)) & 1 == 1) {
                    vm.prank(who);
                    coord.submitOutcome(
                        round, cidOf(who, round), bytes32(uint256(i + 1)), new address[](0), METRIC
                    );
                    lastVoted[i] = round;
                }
                if ((r >> (16 + i)) % 8 == 0) _leaveOrReturn(who);
            }
            for (uint256 i; i < n; ++i) {
                vm.assertEq(coord.missedRounds(people[i]), _naiveMissed(people[i], lastVoted[i]));
            }
            vm.warp(info.voteDeadline);
        }
    }

    function _leaveOrReturn(address who) internal {
        (uint256 s,,, bool active,) = coord.stakeInfo(who);
        if (active && coord.activeCount() <= MIN_PARTICIPANTS) return; // rounds keep opening
        vm.prank(who);
        if (active) coord.requestUnstake(s);
        else coord.stake(MIN_STAKE);
    }

    function _naiveMissed(address who, uint256 lastVoted) internal view returns (uint256 missed) {
        (,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
        if (!active) return 0;
        uint256 since = lastVoted > activeFrom - 1 ? lastVoted : activeFrom - 1;
        uint256 current = coord.currentRound();
        for (uint256 r = since + 1; r < current; ++r) {
            if (coord.committeeSeed(r) == bytes32(0) || coord.isSelected(r, who)) missed += 1;
        }
    }
}
