// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {StakeTree} from "../../src/StakeTree.sol";

/// @notice The coordinator plus read access to its stake tree (tests only).
contract CoordinatorHarness is FedCoordinator {
    using StakeTree for StakeTree.Tree;

    constructor(IERC20 token_, bytes32 taskId_, bytes memory genesis_, Params memory params_)
        FedCoordinator(token_, taskId_, genesis_, params_)
    {}

    function treeSize() external view returns (uint256) {
        return _stakeTree.size;
    }

    function treeTotal() external view returns (uint256) {
        return _stakeTree.total();
    }

    function treeWeight(uint256 index) external view returns (uint256) {
        return _stakeTree.weightOf(index);
    }
}

/// @notice StakeTree behind external calls, to test it against a plain array.
contract StakeTreeHarness {
    using StakeTree for StakeTree.Tree;

    StakeTree.Tree internal _tree;

    function push() external returns (uint256) {
        return _tree.push();
    }

    function add(uint256 index, uint256 amount) external {
        _tree.add(index, amount);
    }

    function sub(uint256 index, uint256 amount) external {
        _tree.sub(index, amount);
    }

    function size() external view returns (uint256) {
        return _tree.size;
    }

    function total() external view returns (uint256) {
        return _tree.total();
    }

    function prefix(uint256 count) external view returns (uint256) {
        return _tree.prefix(count);
    }

    function weightOf(uint256 index) external view returns (uint256) {
        return _tree.weightOf(index);
    }

    function find(uint256 point) external view returns (uint256) {
        return _tree.find(point);
    }
}
