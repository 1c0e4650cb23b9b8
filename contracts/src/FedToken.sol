// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FedToken
/// @notice The fedchain staking and reward token: a plain ERC-20 with a fixed supply.
/// @dev The whole supply is minted once, to `holder`, at deployment. There is no owner and
///      no mint or burn function, so nobody can ever change the supply.
contract FedToken is ERC20 {
    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param holder Receives the whole supply (on the devnet: the deployer, which funds the
    ///        treasury and the participants from it).
    /// @param supply The fixed total supply, in the smallest unit (18 decimals).
    constructor(string memory name_, string memory symbol_, address holder, uint256 supply)
        ERC20(name_, symbol_)
    {
        _mint(holder, supply);
    }
}
