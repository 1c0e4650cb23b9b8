// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {StakeTreeHarness} from "./utils/CoordinatorHarness.sol";
import {StakeTree} from "../src/StakeTree.sol";

/// @notice The Fenwick stake tree against a plain array: appends between updates, prefix
///         sums, weights, and the weighted search (zero weights are never found).
contract StakeTreeTest is Test {
    StakeTreeHarness internal tree;

    function setUp() public {
        tree = new StakeTreeHarness();
    }

    function _naiveFind(uint256[] memory w, uint256 n, uint256 point)
        internal
        pure
        returns (uint256)
    {
        uint256 acc = 0;
        for (uint256 j; j < n; ++j) {
            acc += w[j];
            if (acc > point) return j;
        }
        revert("point out of range");
    }

    function test_FindSkipsZeroWeights() public {
        for (uint256 i; i < 5; ++i) {
            tree.push();
        }
        tree.add(1, 3);
        tree.add(4, 2);
        vm.assertEq(tree.total(), 5);
        vm.assertEq(tree.find(0), 1);
        vm.assertEq(tree.find(2), 1);
        vm.assertEq(tree.find(3), 4);
        vm.assertEq(tree.find(4), 4);
        vm.expectRevert(abi.encodeWithSelector(StakeTree.PointOutOfRange.selector, 5, 5));
        tree.find(5);
    }

    function test_RevertWhen_FindInEmptyTree() public {
        vm.expectRevert(abi.encodeWithSelector(StakeTree.PointOutOfRange.selector, 0, 0));
        tree.find(0);
    }

    function test_PushKeepsEarlierSums() public {
        // Weights set before later appends: nodes created afterwards must include them.
        for (uint256 i; i < 17; ++i) {
            tree.push();
            tree.add(i, i + 1);
        }
        for (uint256 i; i < 17; ++i) {
            vm.assertEq(tree.weightOf(i), i + 1);
            vm.assertEq(tree.prefix(i + 1), (i + 1) * (i + 2) / 2);
        }
    }

    /// Random appends, adds and subtracts: every prefix, weight and search matches.
    function testFuzz_MatchesArray(uint256 seed, uint8 count) public {
        uint256 n = bound(count, 1, 40);
        uint256[] memory w = new uint256[](n);
        uint256 size = 0;
        for (uint256 step; step < 3 * n; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            if (size < n && (size == 0 || r % 3 == 0)) {
                vm.assertEq(tree.push(), size);
                size += 1;
                continue;
            }
            uint256 i = (r >> 8) % size;
            uint256 amount = (r >> 64) % 1000e18;
            if ((r >> 32) % 3 == 0 && w[i] != 0) {
                amount = amount % (w[i] + 1);
                tree.sub(i, amount);
                w[i] -= amount;
            } else {
                tree.add(i, amount);
                w[i] += amount;
            }
        }
        vm.assertEq(tree.size(), size);
        uint256 acc = 0;
        for (uint256 i; i < size; ++i) {
            acc += w[i];
            vm.assertEq(tree.prefix(i + 1), acc);
            vm.assertEq(tree.weightOf(i), w[i]);
        }
        vm.assertEq(tree.total(), acc);
        if (acc == 0) return;
        for (uint256 k; k < 16; ++k) {
            uint256 point = uint256(keccak256(abi.encode(seed, "find", k))) % acc;
            vm.assertEq(tree.find(point), _naiveFind(w, size, point));
        }
        vm.assertEq(tree.find(acc - 1), _naiveFind(w, size, acc - 1));
    }
}
