// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {Test} from "./utils/Test.sol";
import {FedToken} from "../src/FedToken.sol";

contract FedTokenTest is Test {
    FedToken internal token;
    address internal alice = vm.addr(0xA11CE);

    function setUp() public {
        token = new FedToken("Fedchain Token", "FED", address(this));
    }

    function test_Metadata() public view {
        vm.assertEq(token.name(), "Fedchain Token");
        vm.assertEq(token.symbol(), "FED");
        vm.assertEq(token.decimals(), 18);
        vm.assertEq(token.owner(), address(this));
    }

    function test_OwnerMints() public {
        token.mint(alice, 5e18);
        vm.assertEq(token.balanceOf(alice), 5e18);
        vm.assertEq(token.totalSupply(), 5e18);
    }

    function test_RevertWhen_NonOwnerMints() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        token.mint(alice, 1);
    }

    function test_OwnershipTransferNeedsAcceptance() public {
        token.transferOwnership(alice);
        vm.assertEq(token.owner(), address(this));
        vm.assertEq(token.pendingOwner(), alice);
        vm.prank(alice);
        token.acceptOwnership();
        vm.assertEq(token.owner(), alice);
        vm.expectRevert(
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this))
        );
        token.mint(alice, 1);
    }

    function testFuzz_MintAddsUp(uint128 a, uint128 b) public {
        token.mint(alice, a);
        token.mint(address(this), b);
        vm.assertEq(token.totalSupply(), uint256(a) + b);
    }
}
