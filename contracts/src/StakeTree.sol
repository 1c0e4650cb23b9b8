// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title StakeTree
/// @notice A growable Fenwick (binary indexed) tree of non-negative weights: append, add,
///         subtract, prefix sum and weighted search in O(log n) storage reads or writes.
/// @dev Elements are 0-based (registry order); node `i` (1-based) holds the sum of elements
///      `(i - lowbit(i), i]`. Appending never moves an element, so an element's index is
///      fixed for life.
library StakeTree {
    struct Tree {
        uint256 size;
        mapping(uint256 node => uint256 sum) nodes;
    }

    /// @dev `find` was asked for a point at or past the total weight.
    error PointOutOfRange(uint256 point, uint256 total);

    /// @dev Appends an element of weight 0; returns its index.
    function push(Tree storage t) internal returns (uint256 index) {
        index = t.size;
        uint256 node = index + 1;
        uint256 first = node - _lowbit(node);
        // The new node covers (first, node]: its children hold (first, node - 1].
        uint256 sum = 0;
        for (uint256 j = node - 1; j > first; j -= _lowbit(j)) {
            sum += t.nodes[j];
        }
        t.size = node;
        if (sum != 0) t.nodes[node] = sum;
    }

    /// @dev Adds `amount` to element `index` (< size).
    function add(Tree storage t, uint256 index, uint256 amount) internal {
        uint256 size = t.size;
        for (uint256 node = index + 1; node <= size; node += _lowbit(node)) {
            t.nodes[node] += amount;
        }
    }

    /// @dev Subtracts `amount` from element `index` (< size); reverts below 0.
    function sub(Tree storage t, uint256 index, uint256 amount) internal {
        uint256 size = t.size;
        for (uint256 node = index + 1; node <= size; node += _lowbit(node)) {
            t.nodes[node] -= amount;
        }
    }

    /// @dev Sum of the first `count` elements.
    function prefix(Tree storage t, uint256 count) internal view returns (uint256 sum) {
        for (uint256 node = count; node != 0; node -= _lowbit(node)) {
            sum += t.nodes[node];
        }
    }

    /// @dev Sum of all elements.
    function total(Tree storage t) internal view returns (uint256) {
        return prefix(t, t.size);
    }

    /// @dev Weight of element `index`.
    function weightOf(Tree storage t, uint256 index) internal view returns (uint256) {
        return prefix(t, index + 1) - prefix(t, index);
    }

    /// @dev The smallest index whose prefix sum (itself included) exceeds `point`; elements
    ///      of weight 0 are never returned. Reverts unless `point` < total.
    function find(Tree storage t, uint256 point) internal view returns (uint256 index) {
        uint256 size = t.size;
        if (size == 0) revert PointOutOfRange(point, 0);
        uint256 rest = point;
        // Descend from the largest power of two <= size: `index` ends as the largest count
        // of leading elements whose sum is <= point. (2 ** log2(size): the shift is right.)
        // forge-lint: disable-next-line(incorrect-shift)
        for (uint256 step = 1 << Math.log2(size); step != 0; step >>= 1) {
            uint256 next = index + step;
            if (next <= size) {
                uint256 sum = t.nodes[next];
                if (sum <= rest) {
                    index = next;
                    rest -= sum;
                }
            }
        }
        if (index == size) revert PointOutOfRange(point, point - rest);
    }

    function _lowbit(uint256 x) private pure returns (uint256) {
        unchecked {
            return x & (~x + 1);
        }
    }
}
