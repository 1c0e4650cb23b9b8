// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Vm} from "./Test.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {CoordinatorHarness} from "./CoordinatorHarness.sol";

/// @notice Fixture (with a coordinator whose stake tree is readable) plus `COUNT` more funded
///         accounts and a plain replay of the committee draw (O(n * K), no tree) to check
///         the contract's against.
abstract contract CommitteeFixture is Fixture {
    uint256 internal constant COUNT = 32;

    address[] internal people;

    function deployCoordinator(IFedCoordinator.Params memory p)
        internal
        override
        returns (FedCoordinator)
    {
        return new CoordinatorHarness(token, TASK, GENESIS, p);
    }

    function harness() internal view returns (CoordinatorHarness) {
        return CoordinatorHarness(address(coord));
    }

    /// @dev The tree holds each registered account's stake if active, else 0, and its total
    ///      is `activeStake`.
    function assertTreeMirrorsStakes() internal view {
        uint256[] memory weights = registryWeights();
        vm.assertEq(harness().treeSize(), weights.length, "tree size");
        for (uint256 i; i < weights.length; ++i) {
            vm.assertEq(harness().treeWeight(i), weights[i], "tree weight");
        }
        vm.assertEq(harness().treeTotal(), coord.activeStake(), "tree total");
    }

    function setUp() public virtual override {
        super.setUp();
        for (uint256 i; i < COUNT; ++i) {
            address who = vm.addr(0x5000 + i);
            people.push(who);
            token.transfer(who, BALANCE);
            vm.prank(who);
            token.approve(address(coord), type(uint256).max);
        }
    }

    /// @dev Registers the first `stakes.length` of `people` with those stakes.
    function registerPeople(uint256[] memory stakes) internal {
        for (uint256 i; i < stakes.length; ++i) {
            register(people[i], stakes[i]);
        }
    }

    function equalStakes(uint256 n) internal pure returns (uint256[] memory stakes) {
        stakes = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            stakes[i] = MIN_STAKE;
        }
    }

    function setCommitteeSize(uint256 k) internal {
        coord.setCommitteeSize(k);
    }

    /// @dev Opens the next round with `randao` as the block's prevrandao; returns the round
    ///      and the members from its `CommitteeSelected` event (empty when none).
    function openWith(bytes32 randao) internal returns (uint256 round, address[] memory members) {
        vm.prevrandao(randao);
        vm.recordLogs();
        round = coord.advance();
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = IFedCoordinator.CommitteeSelected.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == topic) {
                vm.assertEq(uint256(logs[i].topics[1]), round);
                bytes32 seed;
                (seed, members) = abi.decode(logs[i].data, (bytes32, address[]));
                vm.assertEq(seed, coord.committeeSeed(round));
            }
        }
    }

    /// @dev Weights the draw sees now: stake of each registered account if active, else 0.
    function registryWeights() internal view returns (uint256[] memory weights) {
        uint256 n = coord.participantCount();
        weights = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            (uint256 stake_,,, bool active) = coord.participant(coord.participantAt(i));
            weights[i] = active ? stake_ : 0;
        }
    }

    function expectedSeed(bytes32 randao, uint256 round) internal view returns (bytes32) {
        return keccak256(abi.encode(uint256(randao), round, address(coord)));
    }

    /// @dev The documented rule, literally: registry indices in draw order.
    function replay(bytes32 seed, uint256[] memory weights, uint256 k)
        internal
        pure
        returns (uint256[] memory drawn)
    {
        uint256[] memory w = new uint256[](weights.length);
        uint256 remaining = 0;
        for (uint256 j; j < weights.length; ++j) {
            w[j] = weights[j];
            remaining += w[j];
        }
        drawn = new uint256[](k);
        for (uint256 i; i < k; ++i) {
            uint256 x = uint256(keccak256(abi.encode(seed, i))) % remaining;
            uint256 acc = 0;
            for (uint256 j; j < w.length; ++j) {
                acc += w[j];
                if (acc > x) {
                    drawn[i] = j;
                    remaining -= w[j];
                    w[j] = 0;
                    break;
                }
            }
        }
    }

    /// @dev Asserts `members` (draw order) is what the rule gives for `weights` (read
    ///      just before the opening) and `randao`; returns the members' total weight.
    function assertReplays(
        bytes32 randao,
        uint256 round,
        uint256[] memory weights,
        uint256 k,
        address[] memory members
    ) internal view returns (uint256 stakeSum) {
        uint256[] memory drawn = replay(expectedSeed(randao, round), weights, k);
        vm.assertEq(members.length, k, "committee size");
        for (uint256 i; i < k; ++i) {
            vm.assertEq(members[i], coord.participantAt(drawn[i]));
            stakeSum += weights[drawn[i]];
        }
    }
}
