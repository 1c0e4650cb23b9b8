// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {CoordinatorParams} from "./CoordinatorParams.sol";
import {StakeTree} from "./StakeTree.sol";

/// @title CoordinatorStaking
/// @notice Staking registry of a fedchain coordinator: registration, stake, unstake with a
///         cool-down, the reward treasury and inactivity reports.
/// @dev A participant's stake at the current round's opening stays readable in O(1) through
///      one checkpoint per participant (`_setStake`). Active stakes are mirrored, by registry
///      index, in a Fenwick tree (`_stakeTree`, total == `activeStake`) that committees are
///      drawn from: every change of `activeStake` goes through `_addActive` / `_subActive`.
abstract contract CoordinatorStaking is CoordinatorParams {
    using SafeERC20 for IERC20;
    using StakeTree for StakeTree.Tree;

    /* ------------------------------------------------------------------ */
    /*                              CONSTANTS                             */
    /* ------------------------------------------------------------------ */

    uint256 internal constant MAX_ADDRS = 8;
    uint256 internal constant MAX_ADDR_LENGTH = 256;
    uint256 internal constant MAX_PEER_ID_LENGTH = 64;

    /* ------------------------------------------------------------------ */
    /*                                STATE                               */
    /* ------------------------------------------------------------------ */

    /// @dev Slot 0 holds everything `commit` and `submitOutcome` read and write about the
    ///      sender. Round numbers fit 40 bits: rounds advance at most one per transaction.
    struct Participant {
        uint128 stake;
        uint40 activeFrom; // first round the participant may take part in; 0 = unregistered
        uint40 checkpointRound; // round during which `stakeAtCheckpoint` was recorded
        uint40 lastVotedRound; // latest round the participant voted in
        bool active;
        // Slot 1. `registered` keeps the slot non-zero so checkpoint writes cost 2.9k, not 20k.
        // Also what `commit` and `submitOutcome` read about the sender in a sampled round.
        uint128 stakeAtCheckpoint; // stake before the first change in `checkpointRound`
        uint64 unlockAt; // earliest withdraw of `unbonding`
        bool registered;
        uint40 lastSelectedRound; // latest sampled round the participant was drawn in
        uint16 selectedUnvoted; // sampled draws since its last vote or activation (capped)
        // Slot 2.
        uint128 unbonding; // requested out of the stake, withdrawable from `unlockAt`
        uint64 index; // position in the registry and in the stake tree
        bytes peerId;
        string[] addrs;
    }

    /// @notice The staking and reward token.
    IERC20 public immutable token;

    /// @notice Tokens available to fund future rounds' reward pools.
    uint256 public treasury;
    /// @notice Sum of all participants' stakes, active or not (unbonding tokens excluded).
    uint256 public totalStaked;
    /// @notice Sum of all participants' unbonding tokens (requested out, not yet withdrawn).
    uint256 public totalUnbonding;
    /// @notice Sum of active participants' stakes (snapshotted when a round opens).
    uint256 public activeStake;
    /// @notice Number of active participants (snapshotted when a round opens).
    uint256 public activeCount;
    /// @notice The latest opened round; 0 before the first.
    uint256 public currentRound;

    address[] internal _participantList;
    mapping(address account => Participant) internal _participants;
    /// @dev Active stake per registry index (0 for inactive participants).
    StakeTree.Tree internal _stakeTree;

    /// @param token_ The staking and reward token.
    /// @param params_ Staking, timing and reward parameters.
    constructor(IERC20 token_, Params memory params_) CoordinatorParams(params_) {
        if (address(token_) == address(0)) revert InvalidParam("token");
        token = token_;
    }

    /* ------------------------------------------------------------------ */
    /*                                VIEWS                               */
    /* ------------------------------------------------------------------ */

    /// @notice Number of accounts that ever registered.
    function participantCount() external view returns (uint256) {
        return _participantList.length;
    }

    /// @notice The `index`-th registered account, in registration order.
    /// @param index Position in `[0, participantCount())`.
    function participantAt(uint256 index) external view returns (address) {
        return _participantList[index];
    }

    /// @notice Registry entry of `account` (zero values if it never registered).
    /// @param account The participant.
    /// @return stake_ Current stake.
    /// @return peerId Raw libp2p peer id (multihash bytes).
    /// @return addrs libp2p multiaddrs the participant listens on.
    /// @return active Whether the participant takes part in rounds opened from now on.
    function participant(address account)
        external
        view
        returns (uint256 stake_, bytes memory peerId, string[] memory addrs, bool active)
    {
        Participant storage p = _participants[account];
        return (p.stake, p.peerId, p.addrs, p.active);
    }

    /// @notice Staking position of `account`.
    /// @param account The participant.
    /// @return stake_ Current stake (counts for rounds opened from now on).
    /// @return unbonding Tokens requested out of the stake, not yet withdrawn.
    /// @return unlockAt Earliest `withdraw` time of the unbonding tokens.
    /// @return active Whether the participant takes part in rounds opened from now on.
    /// @return activeFrom First round the participant may take part in (0: never registered).
    function stakeInfo(address account)
        external
        view
        returns (
            uint256 stake_,
            uint256 unbonding,
            uint256 unlockAt,
            bool active,
            uint256 activeFrom
        )
    {
        Participant storage p = _participants[account];
        return (p.stake, p.unbonding, p.unlockAt, p.active, p.activeFrom);
    }

    /// @notice Stake `account` held when `round` opened (voting weight if it is current).
    /// @dev Exact for the current round and for any round opened after the account's last
    ///      stake change.
    /// @param round The round.
    /// @param account The participant.
    function stakeAtOpen(uint256 round, address account) external view returns (uint256) {
        return _stakeAt(_participants[account], round);
    }

    /// @notice Latest round `account` voted in (0 if never).
    /// @param account The participant.
    function lastVotedRound(address account) external view returns (uint256) {
        return _participants[account].lastVotedRound;
    }

    /// @notice Consecutive settled rounds an active `account` took part in without voting.
    /// @dev Counts the rounds before the current one (which can still be voted) since the
    ///      later of its last vote and the round before its activation: every round where
    ///      everyone active took part, and the sampled rounds it was drawn in; 0 when
    ///      inactive.
    /// @param account The participant.
    function missedRounds(address account) public view returns (uint256) {
        Participant storage p = _participants[account];
        if (!p.active) return 0;
        uint256 since = _votedOrActivated(p);
        uint256 round = currentRound;
        uint256 missed = 0;
        if (round > since + 1) {
            uint256 settled = round - 1;
            missed = settled - since - _sampledRoundsIn(since, settled);
        }
        uint256 lastSelected = p.lastSelectedRound;
        if (lastSelected > since) {
            missed += p.selectedUnvoted;
            if (lastSelected == round) missed -= 1; // still votable
        }
        return missed;
    }

    /* ------------------------------------------------------------------ */
    /*                              MUTATIVE                              */
    /* ------------------------------------------------------------------ */

    /// @notice Stake `amount` tokens (pre-approved) and register with a libp2p identity.
    /// @dev The participant takes part from the next round opened after this call.
    /// @param amount Initial stake, at least `minStake`.
    /// @param peerId Raw libp2p peer id (multihash bytes, 1..64 bytes).
    /// @param addrs Up to 8 multiaddrs of at most 256 bytes each.
    function register(uint256 amount, bytes calldata peerId, string[] calldata addrs) external {
        Participant storage p = _participants[msg.sender];
        if (p.activeFrom != 0) revert AlreadyRegistered(msg.sender);
        if (amount < _params.minStake) revert StakeTooLow(amount, _params.minStake);
        _checkPeer(peerId, addrs);

        _participantList.push(msg.sender);
        // One tree element per registry entry: `index` matches `participantAt`.
        p.index = SafeCast.toUint64(_stakeTree.push());
        p.registered = true;
        _storePeer(p, peerId, addrs);
        _setStake(p, amount);
        totalStaked += amount;
        _activate(msg.sender, p);
        emit Registered(msg.sender, amount, peerId, addrs);

        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Replace the caller's libp2p peer id and listen addresses.
    /// @param peerId Raw libp2p peer id (multihash bytes, 1..64 bytes).
    /// @param addrs Up to 8 multiaddrs of at most 256 bytes each.
    function updatePeer(bytes calldata peerId, string[] calldata addrs) external {
        Participant storage p = _participants[msg.sender];
        if (p.activeFrom == 0) revert NotRegistered(msg.sender);
        _checkPeer(peerId, addrs);
        _storePeer(p, peerId, addrs);
        emit PeerUpdated(msg.sender, peerId, addrs);
    }

    /// @notice Add `amount` tokens (pre-approved) to the caller's stake.
    /// @dev Counts for voting from the next round. Reactivates a participant that was
    ///      slashed below `minStake`, unstaked below it or reported inactive once its stake
    ///      is at least `minStake`; it takes part again from the next round.
    /// @param amount Tokens to add.
    function stake(uint256 amount) external {
        if (amount == 0) revert AmountZero();
        Participant storage p = _participants[msg.sender];
        if (p.activeFrom == 0) revert NotRegistered(msg.sender);

        uint256 newStake = p.stake + amount;
        _setStake(p, newStake);
        totalStaked += amount;
        if (p.active) {
            _addActive(p, amount);
        } else if (newStake >= _params.minStake) {
            _activate(msg.sender, p);
        }
        emit Staked(msg.sender, amount, newStake);

        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the caller's stake out, to be withdrawn after the cool-down.
    /// @dev The tokens stop counting for rounds opened from now on but stay slashable: they
    ///      unlock `unstakeCooldown` seconds from now, and not before the vote deadline of the
    ///      current round (open: it can still slash them; finalized: late votes weighted by
    ///      the stake at opening still count until then). Several requests share
    ///      one unlock time, the latest. A stake left below `minStake` deactivates the caller
    ///      (it can no longer commit or vote, also in the current round).
    /// @param amount Tokens to unstake, at most the current stake.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert AmountZero();
        Participant storage p = _participants[msg.sender];
        if (p.activeFrom == 0) revert NotRegistered(msg.sender);
        uint256 current = p.stake;
        if (amount > current) revert InsufficientStake(amount, current);

        uint256 remaining = current - amount;
        _setStake(p, remaining);
        totalStaked -= amount;
        totalUnbonding += amount;
        // amount <= stake, a uint128; the sum is bounded by the token's supply in the contract.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint128 unbonding = p.unbonding + uint128(amount);
        p.unbonding = unbonding;

        uint256 unlockAt = block.timestamp + _params.unstakeCooldown;
        uint256 roundDeadline = _currentVoteDeadline();
        if (roundDeadline > unlockAt) unlockAt = roundDeadline;
        if (unlockAt < p.unlockAt) unlockAt = p.unlockAt;
        // A timestamp plus at most 90 days.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.unlockAt = uint64(unlockAt);

        if (p.active) {
            _subActive(p, amount);
            if (remaining < _params.minStake) _deactivate(msg.sender, p);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        emit UnstakeRequested(msg.sender, amount, remaining, unbonding, uint64(unlockAt));
    }

    /// @notice Transfer all of the caller's unbonding tokens to it once they unlocked.
    function withdraw() external {
        Participant storage p = _participants[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < p.unlockAt) revert CooldownActive(msg.sender, p.unlockAt);

        p.unbonding = 0;
        totalUnbonding -= amount;
        emit Withdrawn(msg.sender, amount);

        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Add `amount` tokens (pre-approved) to the reward treasury.
    /// @param amount Tokens to add.
    function fundTreasury(uint256 amount) external {
        if (amount == 0) revert AmountZero();
        treasury += amount;
        emit TreasuryFunded(msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Report an active participant that missed `inactivityRounds` settled rounds in
    ///         a row: `inactivityLeakBps` of its stake moves to the treasury and it is
    ///         deactivated (it can no longer vote, also in the current round) until it stakes
    ///         again.
    /// @dev Anyone may call. Rounds it missed before a reactivation do not count again.
    /// @param account The participant to report.
    function reportInactive(address account) external {
        uint256 missed = missedRounds(account);
        uint256 required = _params.inactivityRounds;
        if (missed < required) revert NotInactive(account, missed, required);

        Participant storage p = _participants[account];
        uint256 current = p.stake;
        uint256 leaked = current * _params.inactivityLeakBps / BPS;
        if (leaked != 0) {
            _setStake(p, current - leaked);
            totalStaked -= leaked;
            _subActive(p, leaked);
            treasury += leaked;
        }
        _deactivate(account, p);
        emit ReportedInactive(account, msg.sender, missed, leaked);
    }

    /* ------------------------------------------------------------------ */
    /*                               INTERNAL                             */
    /* ------------------------------------------------------------------ */

    /// @dev Vote deadline of the current round while it can take votes (Open or Finalized),
    ///      else 0.
    function _currentVoteDeadline() internal view virtual returns (uint256);

    /// @dev Number of rounds in `(after, upTo]` that were opened with a sampled committee.
    function _sampledRoundsIn(uint256 after_, uint256 upTo) internal view virtual returns (uint256);

    /// @dev The later of the participant's last vote and the round before its activation:
    ///      rounds after it count as missed until it votes.
    function _votedOrActivated(Participant storage p) internal view returns (uint256 since) {
        since = p.lastVotedRound;
        uint256 activatedAfter = uint256(p.activeFrom) - 1;
        if (activatedAfter > since) since = activatedAfter;
    }

    /// @dev Adds `amount` to an active participant's weight (and to `activeStake`).
    function _addActive(Participant storage p, uint256 amount) internal {
        activeStake += amount;
        _stakeTree.add(p.index, amount);
    }

    /// @dev Subtracts `amount` from an active participant's weight (and from `activeStake`).
    function _subActive(Participant storage p, uint256 amount) internal {
        activeStake -= amount;
        _stakeTree.sub(p.index, amount);
    }

    function _activate(address account, Participant storage p) internal {
        uint256 fromRound = currentRound + 1;
        p.active = true;
        // Rounds advance at most one per transaction: 2^40 is out of reach.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.activeFrom = uint40(fromRound);
        activeCount += 1;
        _addActive(p, p.stake);
        emit Activated(account, fromRound);
    }

    function _deactivate(address account, Participant storage p) internal {
        p.active = false;
        activeCount -= 1;
        _subActive(p, p.stake);
        emit Deactivated(account);
    }

    /// @dev Every stake change goes through here so the stake at the current round's opening
    ///      stays readable in O(1).
    function _setStake(Participant storage p, uint256 newStake) internal {
        // Rounds advance at most one per transaction: 2^40 is out of reach.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 round = uint40(currentRound);
        if (p.checkpointRound != round) {
            p.checkpointRound = round;
            p.stakeAtCheckpoint = p.stake;
        }
        p.stake = SafeCast.toUint128(newStake);
    }

    function _stakeAt(Participant storage p, uint256 round) internal view returns (uint256) {
        return p.checkpointRound == round ? p.stakeAtCheckpoint : p.stake;
    }

    function _storePeer(Participant storage p, bytes calldata peerId, string[] calldata addrs)
        private
    {
        p.peerId = peerId;
        delete p.addrs;
        for (uint256 i; i < addrs.length; ++i) {
            p.addrs.push(addrs[i]);
        }
    }

    function _checkPeer(bytes calldata peerId, string[] calldata addrs) private pure {
        if (peerId.length == 0 || peerId.length > MAX_PEER_ID_LENGTH) revert InvalidPeerId();
        if (addrs.length > MAX_ADDRS) revert TooManyAddrs(addrs.length, MAX_ADDRS);
        for (uint256 i; i < addrs.length; ++i) {
            uint256 length = bytes(addrs[i]).length;
            if (length > MAX_ADDR_LENGTH) revert AddrTooLong(i, length, MAX_ADDR_LENGTH);
        }
    }
}
