// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

import {IFedCoordinator} from "./IFedCoordinator.sol";

/// @title CoordinatorParams
/// @notice Bounded, staged parameters of a fedchain coordinator and its owner's setters.
/// @dev Every setter writes a pending copy; the coordinator applies it just before it opens
///      the next round (`ParamsApplied`), so no parameter changes while a round is open. The
///      owner can only move a parameter inside its fixed bounds: it holds no power over
///      stakes or pools.
abstract contract CoordinatorParams is IFedCoordinator, Ownable2Step {
    /* ------------------------------------------------------------------ */
    /*                              CONSTANTS                             */
    /* ------------------------------------------------------------------ */

    uint256 internal constant BPS = 10_000;

    // Parameter bounds, enforced at deployment and by every setter.
    uint256 internal constant MIN_WINDOW = 10 seconds;
    uint256 internal constant MAX_WINDOW = 30 days;
    uint256 internal constant MAX_MIN_STAKE = 1e30;
    uint256 internal constant MAX_REWARD_PER_ROUND = 1e30;
    uint256 internal constant MAX_VOTER_SHARE_BPS = 5000;
    uint256 internal constant MAX_SLASH_BPS = 5000;
    uint256 internal constant MAX_MIN_PARTICIPANTS = 1000;
    uint256 internal constant MIN_COOLDOWN = 60 seconds;
    uint256 internal constant MAX_COOLDOWN = 90 days;
    uint256 internal constant MIN_CLAIM_PERIOD = 60 seconds;
    uint256 internal constant MAX_CLAIM_PERIOD = 365 days;
    uint256 internal constant MAX_INACTIVITY_ROUNDS = 1000;
    uint256 internal constant MAX_INACTIVITY_LEAK_BPS = 1000;
    uint256 internal constant MAX_COMMITTEE = 128;
    /// @dev Storage slots of a `Params` (5: three full words, then the packed rest).
    uint256 internal constant PARAMS_SLOTS = 5;
    /// @dev Bound on `patience` and `maxRounds`.
    uint256 internal constant MAX_STOP_ROUNDS = 1_000_000;

    /* ------------------------------------------------------------------ */
    /*                                STATE                               */
    /* ------------------------------------------------------------------ */

    /// @dev The parameters in force.
    Params internal _params;
    /// @dev The parameters the next round opens with (equal to `_params` unless a setter ran).
    Params private _pending;
    /// @dev Whether a setter ran since the pending copy was last applied.
    bool private _pendingChanged;

    /// @param params_ Staking, timing and reward parameters.
    constructor(Params memory params_) Ownable(msg.sender) {
        _bound("minStake", params_.minStake, 1, MAX_MIN_STAKE);
        _bound("commitWindow", params_.commitWindow, MIN_WINDOW, MAX_WINDOW);
        _bound("voteWindow", params_.voteWindow, MIN_WINDOW, MAX_WINDOW);
        _bound("rewardPerRound", params_.rewardPerRound, 0, MAX_REWARD_PER_ROUND);
        _bound("voterShareBps", params_.voterShareBps, 0, MAX_VOTER_SHARE_BPS);
        _bound("slashBps", params_.slashBps, 0, MAX_SLASH_BPS);
        _bound("minParticipants", params_.minParticipants, 1, MAX_MIN_PARTICIPANTS);
        _bound("unstakeCooldown", params_.unstakeCooldown, MIN_COOLDOWN, MAX_COOLDOWN);
        _bound("lateVoteGrace", params_.lateVoteGrace, 0, MAX_WINDOW);
        _bound("claimPeriod", params_.claimPeriod, MIN_CLAIM_PERIOD, MAX_CLAIM_PERIOD);
        _bound("inactivityRounds", params_.inactivityRounds, 1, MAX_INACTIVITY_ROUNDS);
        _bound("inactivityLeakBps", params_.inactivityLeakBps, 0, MAX_INACTIVITY_LEAK_BPS);
        _bound("committeeSize", params_.committeeSize, 0, MAX_COMMITTEE);
        _bound("targetMetricBps", params_.targetMetricBps, 0, BPS);
        _bound("patience", params_.patience, 0, MAX_STOP_ROUNDS);
        _bound("maxRounds", params_.maxRounds, 0, MAX_STOP_ROUNDS);
        _params = params_;
        _pending = params_;
    }

    /* ------------------------------------------------------------------ */
    /*                                VIEWS                               */
    /* ------------------------------------------------------------------ */

    /// @notice The parameters in force (those the current round opened with).
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice The parameters the next round will open with (equal to `params()` unless the
    ///         owner changed one since the current round opened).
    function pendingParams() external view returns (Params memory) {
        return _pending;
    }

    /* ------------------------------------------------------------------ */
    /*                              RESTRICTED                            */
    /* ------------------------------------------------------------------ */

    /// @notice Ownership can only be handed over (two steps), never renounced: an ownerless
    ///         coordinator could stay paused forever.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }

    /// @notice Stage the smallest stake that registers or keeps a participant active.
    /// @dev In force from the next round's opening; participants already active are not
    ///      re-checked.
    /// @param value New minimum, in [1, MAX_MIN_STAKE].
    function setMinStake(uint256 value) external onlyOwner {
        _stage("minStake", _pending.minStake, value, 1, MAX_MIN_STAKE);
        _pending.minStake = value;
    }

    /// @notice Stage the commit window of rounds opened from the next one on.
    /// @param value Seconds, in [MIN_WINDOW, MAX_WINDOW].
    function setCommitWindow(uint64 value) external onlyOwner {
        _stage("commitWindow", _pending.commitWindow, value, MIN_WINDOW, MAX_WINDOW);
        _pending.commitWindow = value;
    }

    /// @notice Stage the vote window of rounds opened from the next one on.
    /// @param value Seconds, in [MIN_WINDOW, MAX_WINDOW].
    function setVoteWindow(uint64 value) external onlyOwner {
        _stage("voteWindow", _pending.voteWindow, value, MIN_WINDOW, MAX_WINDOW);
        _pending.voteWindow = value;
    }

    /// @notice Stage the tokens reserved from the treasury for each round opened from the next.
    /// @param value Tokens, in [0, MAX_REWARD_PER_ROUND].
    function setRewardPerRound(uint256 value) external onlyOwner {
        _stage("rewardPerRound", _pending.rewardPerRound, value, 0, MAX_REWARD_PER_ROUND);
        _pending.rewardPerRound = value;
    }

    /// @notice Stage the voters' share of the pools of rounds opened from the next one on.
    /// @param value Basis points, in [0, MAX_VOTER_SHARE_BPS].
    function setVoterShareBps(uint16 value) external onlyOwner {
        _stage("voterShareBps", _pending.voterShareBps, value, 0, MAX_VOTER_SHARE_BPS);
        _pending.voterShareBps = value;
    }

    /// @notice Stage the share of a slashed participant's stake moved to the treasury.
    /// @dev Applies to rounds opened from the next one on.
    /// @param value Basis points, in [0, MAX_SLASH_BPS].
    function setSlashBps(uint16 value) external onlyOwner {
        _stage("slashBps", _pending.slashBps, value, 0, MAX_SLASH_BPS);
        _pending.slashBps = value;
    }

    /// @notice Stage how many active participants a new round needs (checked by the `advance`
    ///         that would open it).
    /// @param value Participants, in [1, MAX_MIN_PARTICIPANTS].
    function setMinParticipants(uint32 value) external onlyOwner {
        _stage("minParticipants", _pending.minParticipants, value, 1, MAX_MIN_PARTICIPANTS);
        _pending.minParticipants = value;
    }

    /// @notice Stage the cool-down of unstake requests made once the next round opened.
    /// @param value Seconds, in [MIN_COOLDOWN, MAX_COOLDOWN].
    function setUnstakeCooldown(uint64 value) external onlyOwner {
        _stage("unstakeCooldown", _pending.unstakeCooldown, value, MIN_COOLDOWN, MAX_COOLDOWN);
        _pending.unstakeCooldown = value;
    }

    /// @notice Stage the late-vote grace of rounds opened from the next one on.
    /// @param value Seconds, in [0, MAX_WINDOW].
    function setLateVoteGrace(uint64 value) external onlyOwner {
        _stage("lateVoteGrace", _pending.lateVoteGrace, value, 0, MAX_WINDOW);
        _pending.lateVoteGrace = value;
    }

    /// @notice Stage the claim period of rounds opened from the next one on (a round keeps
    ///         the claim period it opened with).
    /// @param value Seconds, in [MIN_CLAIM_PERIOD, MAX_CLAIM_PERIOD].
    function setClaimPeriod(uint64 value) external onlyOwner {
        _stage("claimPeriod", _pending.claimPeriod, value, MIN_CLAIM_PERIOD, MAX_CLAIM_PERIOD);
        _pending.claimPeriod = value;
    }

    /// @notice Stage how many settled rounds a participant may miss before `reportInactive`.
    /// @param value Rounds, in [1, MAX_INACTIVITY_ROUNDS].
    function setInactivityRounds(uint32 value) external onlyOwner {
        _stage("inactivityRounds", _pending.inactivityRounds, value, 1, MAX_INACTIVITY_ROUNDS);
        _pending.inactivityRounds = value;
    }

    /// @notice Stage the share of a reported inactive participant's stake moved to the
    ///         treasury.
    /// @param value Basis points, in [0, MAX_INACTIVITY_LEAK_BPS].
    function setInactivityLeakBps(uint16 value) external onlyOwner {
        _stage("inactivityLeakBps", _pending.inactivityLeakBps, value, 0, MAX_INACTIVITY_LEAK_BPS);
        _pending.inactivityLeakBps = value;
    }

    /// @notice Stage the committee size K of rounds opened from the next one on: K
    ///         participants drawn stake-weighted per round; 0 (or K at least the active
    ///         count) lets everyone active take part.
    /// @param value Participants, in [0, MAX_COMMITTEE].
    function setCommitteeSize(uint256 value) external onlyOwner {
        _stage("committeeSize", _pending.committeeSize, value, 0, MAX_COMMITTEE);
        // value <= MAX_COMMITTEE (checked by _stage).
        // forge-lint: disable-next-line(unsafe-typecast)
        _pending.committeeSize = uint32(value);
    }

    /// @notice Stage the stop rule of rounds opened from the next one on: the deployment
    ///         finishes when a round finalizes with an agreed metric of at least
    ///         `targetMetricBps`, after `patience` finalized rounds in a row without a better
    ///         agreed metric, or with its `maxRounds`-th finalized round (0 turns each off).
    ///         One setter for the three (the contract is near EIP-170's size limit).
    /// @param targetMetricBps Basis points, in [0, BPS].
    /// @param patience Rounds, in [0, MAX_STOP_ROUNDS].
    /// @param maxRounds Rounds, in [0, MAX_STOP_ROUNDS].
    function setStopRule(uint16 targetMetricBps, uint32 patience, uint32 maxRounds)
        external
        onlyOwner
    {
        _stage("targetMetricBps", _pending.targetMetricBps, targetMetricBps, 0, BPS);
        _stage("patience", _pending.patience, patience, 0, MAX_STOP_ROUNDS);
        _stage("maxRounds", _pending.maxRounds, maxRounds, 0, MAX_STOP_ROUNDS);
        _pending.targetMetricBps = targetMetricBps;
        _pending.patience = patience;
        _pending.maxRounds = maxRounds;
    }

    /* ------------------------------------------------------------------ */
    /*                               INTERNAL                             */
    /* ------------------------------------------------------------------ */

    /// @dev The `minParticipants` the next opening needs (the pending copy's).
    function _nextMinParticipants() internal view returns (uint256) {
        return _pending.minParticipants;
    }

    /// @dev Puts the pending copy in force; called just before `round` opens.
    function _applyPendingParams(uint256 round) internal {
        if (!_pendingChanged) return;
        _pendingChanged = false;
        // `_params = _pending` slot by slot: the compiler's field-by-field copy of this
        // 16-field struct cost 360 bytes of the contract's EIP-170 budget. PARAMS_SLOTS is
        // checked by test_ParamsSlotCount (test/FedCoordinator.params.t.sol).
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            let from := _pending.slot
            let to := _params.slot
            for { let i := 0 } lt(i, PARAMS_SLOTS) { i := add(i, 1) } {
                sstore(add(to, i), sload(add(from, i)))
            }
        }
        emit ParamsApplied(round);
    }

    /// @dev Checks a staged value's bounds, logs the change and marks the pending copy dirty.
    function _stage(string memory name, uint256 old, uint256 value, uint256 min, uint256 max)
        private
    {
        _bound(name, value, min, max);
        emit ParamUpdated(name, old, value);
        _pendingChanged = true;
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParamOutOfRange(name, value, min, max);
    }
}
