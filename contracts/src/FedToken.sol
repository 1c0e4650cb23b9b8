// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title FedToken
/// @notice The fedchain staking and reward token: a plain ERC-20 whose owner can mint.
/// @dev Ownership moves in two steps (transferOwnership + acceptOwnership).
contract FedToken is ERC20, Ownable2Step {
    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param initialOwner The account allowed to mint.
    constructor(string memory name_, string memory symbol_, address initialOwner)
        ERC20(name_, symbol_)
        Ownable(initialOwner)
    {}

    /// @notice Mint `amount` new tokens to `to`.
    /// @param to Recipient of the new tokens.
    /// @param amount Amount in the smallest unit (18 decimals).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
