// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {Test} from "./utils/Test.sol";
import {FedToken} from "../src/FedToken.sol";

contract FedTokenTest is Test {
    uint256 internal constant SUPPLY = 10_000_000e18;
    FedToken internal token;
    address internal alice = vm.addr(0xA11CE);

    function setUp() public {
        token = new FedToken("Fedchain Token", "FED", address(this), SUPPLY);
    }

    function test_Metadata() public view {
        vm.assertEq(token.name(), "Fedchain Token");
        vm.assertEq(token.symbol(), "FED");
        vm.assertEq(token.decimals(), 18);
    }

    function test_WholeSupplyToHolder() public {
        vm.assertEq(token.totalSupply(), SUPPLY);
        vm.assertEq(token.balanceOf(address(this)), SUPPLY);
        FedToken other = new FedToken("T", "T", alice, 5e18);
        vm.assertEq(other.balanceOf(alice), 5e18);
        vm.assertEq(other.balanceOf(address(this)), 0);
        vm.assertEq(other.totalSupply(), 5e18);
    }

    function test_RevertWhen_HolderIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0))
        );
        new FedToken("T", "T", address(0), 1);
    }

    /// @dev No mint, no owner: calls to the old selectors hit no function.
    function test_NoMintNoOwner() public {
        (bool ok,) = address(token).call(abi.encodeWithSignature("mint(address,uint256)", alice, 1));
        vm.assertFalse(ok);
        (ok,) = address(token).call(abi.encodeWithSignature("owner()"));
        vm.assertFalse(ok);
        (ok,) = address(token).call(abi.encodeWithSignature("transferOwnership(address)", alice));
        vm.assertFalse(ok);
        vm.assertEq(token.totalSupply(), SUPPLY);
    }

    function testFuzz_TransfersKeepSupply(uint256 a, uint256 b) public {
        a = bound(a, 0, SUPPLY);
        token.transfer(alice, a);
        b = bound(b, 0, a);
        vm.prank(alice);
        token.transfer(address(this), b);
        vm.assertEq(token.balanceOf(alice), a - b);
        vm.assertEq(token.balanceOf(address(this)) + token.balanceOf(alice), SUPPLY);
        vm.assertEq(token.totalSupply(), SUPPLY);
    }
}
