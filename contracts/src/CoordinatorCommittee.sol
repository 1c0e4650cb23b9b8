// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Arrays} from "@openzeppelin/contracts/utils/Arrays.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {CoordinatorStaking} from "./CoordinatorStaking.sol";
import {StakeTree} from "./StakeTree.sol";

/// @title CoordinatorCommittee
/// @notice Per-round committees of a fedchain coordinator: when `committeeSize` K is set and
///         below the active count, the round's opening draws K distinct participants,
///         stake-weighted without replacement, and only they commit and vote.
/// @dev The draw, from seed = keccak256(abi.encode(block.prevrandao, round, address(this))):
///      for i in [0, K): x = uint256(keccak256(abi.encode(seed, i))) % remaining, where
///      remaining is the active stake not drawn yet; the member is the smallest registry
///      index whose prefix sum of active, not yet drawn stake exceeds x. Anyone can replay
///      it from the seed and the registry (docs/committee.md). Drawn weights are taken out
///      of the stake tree for the draw and put back after it: K <= MAX_COMMITTEE draws of
///      O(log n) each.
abstract contract CoordinatorCommittee is CoordinatorStaking {
    using StakeTree for StakeTree.Tree;
    using BitMaps for BitMaps.BitMap;
    using Arrays for uint256[];

    /// @dev Cap on the saturating per-participant count of unvoted draws.
    uint256 private constant MAX_UNVOTED = type(uint16).max;

    /// @dev Seed of each sampled round (0 for rounds where everyone active took part).
    mapping(uint256 round => bytes32 seed) private _seeds;
    /// @dev Members of each sampled round, by registry index.
    mapping(uint256 round => BitMaps.BitMap members) private _members;
    /// @dev Sampled rounds in ascending order (for the inactivity count).
    uint256[] private _sampledRounds;

    /// @param token_ The staking and reward token.
    /// @param params_ Staking, timing and reward parameters.
    constructor(IERC20 token_, Params memory params_) CoordinatorStaking(token_, params_) {}

    /* ------------------------------------------------------------------ */
    /*                                VIEWS                               */
    /* ------------------------------------------------------------------ */

    /// @notice Whether `account` may take part in `round`: drawn into its committee when the
    ///         round was sampled, else registered with `activeFrom <= round`.
    /// @dev Selection only: a participant deactivated since the opening is still reported
    ///      selected but its commit and vote revert `NotEligible`.
    /// @param round The round.
    /// @param account The participant.
    function isSelected(uint256 round, address account) external view returns (bool) {
        Participant storage p = _participants[account];
        uint256 activeFrom = p.activeFrom;
        if (activeFrom == 0) return false;
        if (_seeds[round] != bytes32(0)) return _members[round].get(p.index);
        return activeFrom <= round;
    }

    /// @notice Seed `round`'s committee was drawn from (0 when everyone active took part).
    /// @param round The round.
    function committeeSeed(uint256 round) external view returns (bytes32) {
        return _seeds[round];
    }

    /* ------------------------------------------------------------------ */
    /*                               INTERNAL                             */
    /* ------------------------------------------------------------------ */

    /// @dev Draws `k` (< activeCount, <= MAX_COMMITTEE) members for `round`, records them and
    ///      emits `CommitteeSelected`; returns their total stake.
    function _drawCommittee(uint256 round, uint256 k) internal returns (uint256 selectedStake) {
        bytes32 seed = keccak256(abi.encode(block.prevrandao, round, address(this)));
        address[] memory members = new address[](k);
        uint256[] memory indices = new uint256[](k);
        uint256[] memory weights = new uint256[](k);
        uint256 remaining = activeStake;
        for (uint256 i; i < k; ++i) {
            // remaining > 0: k < activeCount and every active participant has stake >= 1.
            uint256 point = uint256(keccak256(abi.encode(seed, i))) % remaining;
            (members[i], indices[i], weights[i]) = _drawAt(round, point);
            remaining -= weights[i];
            selectedStake += weights[i];
        }
        for (uint256 i; i < k; ++i) {
            _stakeTree.add(indices[i], weights[i]);
        }
        _seeds[round] = seed;
        _sampledRounds.push(round);
        emit CommitteeSelected(round, seed, members);
    }

    /// @dev Draws the participant at `point` of the not yet drawn active stake, marks it a
    ///      member of `round` and takes its weight out of the tree until the draw ends.
    function _drawAt(uint256 round, uint256 point)
        private
        returns (address account, uint256 index, uint256 weight)
    {
        index = _stakeTree.find(point);
        account = _participantList[index];
        Participant storage p = _participants[account];
        weight = p.stake;
        _stakeTree.sub(index, weight);
        _members[round].set(index);
        _markSelected(p, round);
    }

    /// @dev Reverts `NotSelected` unless the sender was drawn in sampled `round`.
    function _checkSelected(uint256 round, Participant storage p) internal view {
        if (p.lastSelectedRound != round) revert NotSelected(round, msg.sender);
    }

    function _sampledRoundsIn(uint256 after_, uint256 upTo)
        internal
        view
        override
        returns (uint256)
    {
        return _sampledRounds.upperBound(upTo) - _sampledRounds.upperBound(after_);
    }

    /// @dev Records a draw in `round` for the inactivity count: draws since the participant's
    ///      last vote or activation are counted, older ones forgotten.
    function _markSelected(Participant storage p, uint256 round) private {
        uint256 unvoted = p.lastSelectedRound > _votedOrActivated(p) ? p.selectedUnvoted : 0;
        if (unvoted < MAX_UNVOTED) unvoted += 1;
        // unvoted <= MAX_UNVOTED; rounds fit 40 bits (see Participant).
        // forge-lint: disable-next-line(unsafe-typecast)
        p.selectedUnvoted = uint16(unvoted);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.lastSelectedRound = uint40(round);
    }
}
