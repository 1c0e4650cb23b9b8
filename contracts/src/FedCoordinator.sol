// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IFedCoordinator} from "./IFedCoordinator.sol";

/// @title FedCoordinator
/// @notice Staking registry, round clock, commitment log, outcome vote and reward
///         distribution for one fedchain federated-learning task.
/// @dev Round r: `advance()` opens it and snapshots the active stake; eligible participants
///      `commit` their update CID until the commit deadline (the window closes early once
///      every eligible participant committed); then each submits the agreed outcome (new
///      model CID, reward Merkle root, sorted slash list). The first outcome backed by 2/3
///      of the snapshotted stake finalizes the round. Contributors claim with Merkle proofs,
///      winning voters claim a stake-weighted voter share. A round that misses its quorum
///      by the vote deadline is marked Failed by the next `advance()`.
///
///      Votes are accepted for the current round only, so a voter's weight is its stake at
///      the round's opening, read from one O(1) checkpoint per participant. Winning votes
///      that arrive after finalization still count until the vote deadline or until the
///      next round opens, whichever is first; voter rewards are therefore claimable only
///      after that point.
///
///      The token must be a plain ERC-20 (no fee on transfer, no rebasing).
contract FedCoordinator is IFedCoordinator, Ownable2Step, Pausable {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    /* ------------------------------------------------------------------ */
    /*                              CONSTANTS                             */
    /* ------------------------------------------------------------------ */

    uint256 public constant MAX_SLASH = 16;
    uint256 public constant MAX_ADDRS = 8;
    uint256 public constant MAX_ADDR_LENGTH = 256;
    uint256 public constant MAX_PEER_ID_LENGTH = 64;
    uint256 public constant MAX_CID_LENGTH = 128;
    uint256 public constant MAX_CLAIM_BATCH = 32;
    uint256 public constant BPS = 10_000;

    // Parameter bounds, enforced at deployment and by every setter.
    uint256 public constant MIN_WINDOW = 10 seconds;
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 public constant MAX_MIN_STAKE = 1e30;
    uint256 public constant MAX_REWARD_PER_ROUND = 1e30;
    uint256 public constant MAX_VOTER_SHARE_BPS = 5000;
    uint256 public constant MAX_SLASH_BPS = 5000;
    uint256 public constant MAX_MIN_PARTICIPANTS = 1000;
    uint256 public constant MIN_COOLDOWN = 60 seconds;
    uint256 public constant MAX_COOLDOWN = 90 days;

    /* ------------------------------------------------------------------ */
    /*                                STATE                               */
    /* ------------------------------------------------------------------ */

    /// @dev Slot 0 holds everything `commit` reads about the sender.
    struct Participant {
        uint128 stake;
        uint56 activeFrom; // first round the participant may take part in; 0 = unregistered
        uint64 checkpointRound; // round during which `stakeAtCheckpoint` was recorded
        bool active;
        // Slot 1. `registered` keeps the slot non-zero so checkpoint writes cost 2.9k, not 20k.
        uint128 stakeAtCheckpoint; // stake before the first change in `checkpointRound`
        uint64 unlockAt; // earliest withdraw of `unbonding`
        bool registered;
        uint128 unbonding; // requested out of the stake, withdrawable from `unlockAt`
        bytes peerId;
        string[] addrs;
    }

    /// @dev Written at opening so that finalization and claims mostly update non-zero slots:
    ///      slot 1 (snapshot) takes contributor claims, slot 2 (contributor pool) takes the
    ///      winning key, slot 3 (voter pool) takes voter claims.
    struct Round {
        RoundStatus status;
        uint40 openedAt;
        uint40 commitDeadline;
        uint40 closedAt;
        uint40 voteDeadline;
        uint32 eligibleCount;
        uint32 commitCount;
        uint128 stakeSnapshot;
        uint128 contributorClaimed;
        uint128 contributorPool;
        bytes16 outcomeKey; // first 16 bytes of the winning outcome id
        uint128 voterPool;
        uint128 voterClaimed;
        bytes32 rewardRoot;
    }

    /// @dev One slot. Outcomes are keyed by the first 16 bytes of their id: finding another
    ///      outcome with the winning key is a 2^128 second-preimage search.
    struct Vote {
        bytes16 outcomeKey;
        uint120 weight;
        bool rewardClaimed;
    }

    /// @notice The staking and reward token.
    IERC20 public immutable token;
    /// @notice Identifier of the learning task this coordinator runs.
    bytes32 public immutable taskId;

    Params private _params;
    bytes private _genesisModelCid;
    bytes private _latestModelCid;

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

    address[] private _participantList;
    mapping(address account => Participant) private _participants;
    mapping(uint256 round => Round) private _rounds;
    mapping(uint256 round => mapping(address author => bytes32 cidHash)) private _commitments;
    mapping(uint256 round => mapping(address voter => Vote)) private _votes;
    mapping(uint256 round => mapping(bytes16 outcomeKey => uint256 weight)) private _votesFor;
    mapping(address account => BitMaps.BitMap rounds) private _claimedRounds;

    /// @param token_ The staking and reward token.
    /// @param taskId_ Identifier of the learning task.
    /// @param genesisModelCid_ Binary CID of the genesis model.
    /// @param params_ Staking, timing and reward parameters.
    constructor(
        IERC20 token_,
        bytes32 taskId_,
        bytes memory genesisModelCid_,
        Params memory params_
    ) Ownable(msg.sender) {
        if (address(token_) == address(0)) revert InvalidParam("token");
        _checkCid(genesisModelCid_);
        _bound("minStake", params_.minStake, 1, MAX_MIN_STAKE);
        _bound("commitWindow", params_.commitWindow, MIN_WINDOW, MAX_WINDOW);
        _bound("voteWindow", params_.voteWindow, MIN_WINDOW, MAX_WINDOW);
        _bound("rewardPerRound", params_.rewardPerRound, 0, MAX_REWARD_PER_ROUND);
        _bound("voterShareBps", params_.voterShareBps, 0, MAX_VOTER_SHARE_BPS);
        _bound("slashBps", params_.slashBps, 0, MAX_SLASH_BPS);
        _bound("minParticipants", params_.minParticipants, 1, MAX_MIN_PARTICIPANTS);
        _bound("unstakeCooldown", params_.unstakeCooldown, MIN_COOLDOWN, MAX_COOLDOWN);
        token = token_;
        taskId = taskId_;
        _genesisModelCid = genesisModelCid_;
        _latestModelCid = genesisModelCid_;
        _params = params_;
    }

    /* ------------------------------------------------------------------ */
    /*                                VIEWS                               */
    /* ------------------------------------------------------------------ */

    /// @notice The deployment parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Binary CID of the genesis model.
    function genesisModelCid() external view returns (bytes memory) {
        return _genesisModelCid;
    }

    /// @notice Binary CID of the model of the latest finalized round (genesis before any).
    function latestModelCid() external view returns (bytes memory) {
        return _latestModelCid;
    }

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

    /// @notice Everything recorded about `round`.
    /// @param round The round.
    function roundInfo(uint256 round) external view returns (RoundInfo memory info) {
        Round storage rd = _rounds[round];
        info.status = rd.status;
        info.openedAt = rd.openedAt;
        info.commitDeadline = rd.commitDeadline;
        info.closedAt = rd.closedAt;
        info.voteDeadline = rd.voteDeadline;
        info.eligibleCount = rd.eligibleCount;
        info.commitCount = rd.commitCount;
        info.stakeSnapshot = rd.stakeSnapshot;
        info.rewardRoot = rd.rewardRoot;
        info.contributorPool = rd.contributorPool;
        info.voterPool = rd.voterPool;
        info.outcomeKey = rd.outcomeKey;
        info.winningWeight = rd.outcomeKey == bytes16(0) ? 0 : _votesFor[round][rd.outcomeKey];
        info.contributorClaimed = rd.contributorClaimed;
        info.voterClaimed = rd.voterClaimed;
    }

    /// @notice keccak256 of the CID `author` committed in `round` (zero if none).
    /// @param round The round.
    /// @param author The committing participant.
    function commitmentOf(uint256 round, address author) external view returns (bytes32) {
        return _commitments[round][author];
    }

    /// @notice Whether `voter` submitted an outcome for `round`.
    /// @param round The round.
    /// @param voter The participant.
    function hasVoted(uint256 round, address voter) external view returns (bool) {
        return _votes[round][voter].outcomeKey != bytes16(0);
    }

    /// @notice Outcome `voter` submitted for `round` and its weight.
    /// @param round The round.
    /// @param voter The participant.
    function voteOf(uint256 round, address voter)
        external
        view
        returns (bytes16 outcomeKey, uint256 weight, bool rewardClaimed)
    {
        Vote storage v = _votes[round][voter];
        return (v.outcomeKey, v.weight, v.rewardClaimed);
    }

    /// @notice Total stake weight that voted for `outcomeId` in `round`.
    /// @param round The round.
    /// @param outcomeId keccak256(abi.encode(keccak256(modelCid), rewardRoot, slash)).
    function votesFor(uint256 round, bytes32 outcomeId) external view returns (uint256) {
        return _votesFor[round][bytes16(outcomeId)];
    }

    /// @notice Whether `account` claimed its contributor reward for `round`.
    /// @param round The round.
    /// @param account The claimant.
    function isClaimed(uint256 round, address account) external view returns (bool) {
        return _claimedRounds[account].get(round);
    }

    /// @notice The id an outcome is counted under.
    /// @param modelCid Binary CID of the new model.
    /// @param rewardRoot Merkle root of the contributor rewards.
    /// @param slash Addresses to slash, strictly ascending.
    function outcomeIdOf(bytes calldata modelCid, bytes32 rewardRoot, address[] calldata slash)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(keccak256(modelCid), rewardRoot, slash));
    }

    /* ------------------------------------------------------------------ */
    /*                          MUTATIVE: REGISTRY                        */
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
    /// @dev Counts for voting from the next round. Reactivates a participant whose stake had
    ///      been slashed below `minStake` once it is back above it.
    /// @param amount Tokens to add.
    function stake(uint256 amount) external {
        if (amount == 0) revert AmountZero();
        Participant storage p = _participants[msg.sender];
        if (p.activeFrom == 0) revert NotRegistered(msg.sender);

        uint256 newStake = p.stake + amount;
        _setStake(p, newStake);
        totalStaked += amount;
        if (p.active) {
            activeStake += amount;
        } else if (newStake >= _params.minStake) {
            _activate(msg.sender, p);
        }
        emit Staked(msg.sender, amount, newStake);

        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the caller's stake out, to be withdrawn after the cool-down.
    /// @dev The tokens stop counting for rounds opened from now on but stay slashable: they
    ///      unlock `unstakeCooldown` seconds from now, and not before the vote deadline of the
    ///      round open now (the only round that can still slash them). Several requests share
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
        Round storage rd = _rounds[currentRound];
        if (rd.status == RoundStatus.Open && rd.voteDeadline > unlockAt) unlockAt = rd.voteDeadline;
        if (unlockAt < p.unlockAt) unlockAt = p.unlockAt;
        // A timestamp plus at most 90 days.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.unlockAt = uint64(unlockAt);

        if (p.active) {
            activeStake -= amount;
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

    /* ------------------------------------------------------------------ */
    /*                           MUTATIVE: ROUNDS                         */
    /* ------------------------------------------------------------------ */

    /// @notice Move the round clock: mark an expired round Failed, open the next round.
    /// @dev Anyone may call. Opens round 1 once `minParticipants` are active; opens the next
    ///      round when the current one is Finalized or Failed; marks the current round Failed
    ///      when its vote deadline passed without quorum. Reverts when there is nothing to do.
    /// @return round The round current after the call.
    function advance() external whenNotPaused returns (uint256 round) {
        round = currentRound;
        bool failed = false;
        if (round != 0) {
            Round storage cur = _rounds[round];
            if (cur.status == RoundStatus.Open) {
                if (block.timestamp < cur.voteDeadline) {
                    revert RoundInProgress(round, cur.voteDeadline);
                }
                cur.status = RoundStatus.Failed;
                failed = true;
                // The pools reserved at opening go back to the treasury.
                treasury += uint256(cur.contributorPool) + cur.voterPool;
                cur.contributorPool = 0;
                cur.voterPool = 0;
                emit RoundFailed(round);
            }
        }
        uint256 minParticipants = _params.minParticipants;
        if (activeCount < minParticipants) {
            if (failed) return round;
            revert NotEnoughParticipants(activeCount, minParticipants);
        }
        round += 1;
        currentRound = round;
        _open(round);
    }

    /// @notice Commit the CID of the caller's update for `round`.
    /// @dev Only during the commit window, only participants active since before the round
    ///      opened, once per round. Stores keccak256(cid); the event carries the full CID.
    /// @param round The current round.
    /// @param cid Binary CIDv1 of the update blob (starts with 0x01, at most 128 bytes).
    function commit(uint256 round, bytes calldata cid) external {
        _checkCidCalldata(cid);
        Round storage rd = _rounds[round];
        // Only the current round can be Open: advance() settles a round before the next.
        if (rd.status != RoundStatus.Open) revert RoundNotOpen(round);
        uint32 commitCount = rd.commitCount;
        uint32 eligibleCount = rd.eligibleCount;
        if (block.timestamp >= rd.commitDeadline || rd.closedAt != 0) {
            revert CommitWindowClosed(round);
        }
        Participant storage p = _participants[msg.sender];
        if (!p.active || p.activeFrom > round) revert NotEligible(round, msg.sender);
        if (_commitments[round][msg.sender] != bytes32(0)) {
            revert AlreadyCommitted(round, msg.sender);
        }

        _commitments[round][msg.sender] = keccak256(cid);
        commitCount += 1;
        rd.commitCount = commitCount;
        emit Committed(round, msg.sender, cid);

        if (commitCount == eligibleCount) {
            // Everyone eligible committed: close now and pull the vote deadline forward.
            uint40 now_ = uint40(block.timestamp);
            uint40 voteDeadline = rd.voteDeadline - (rd.commitDeadline - now_);
            rd.closedAt = now_;
            rd.voteDeadline = voteDeadline;
            emit CommitClosed(round, now_, voteDeadline);
        }
    }

    /// @notice Vote for the outcome of `round`; finalizes it at 2/3 of the snapshotted stake.
    /// @dev During the vote window of the current round, once per participant, weighted by
    ///      the voter's stake at the round's opening. On finalization: records the model CID
    ///      and reward root (the round's pools were reserved when it opened), and slashes
    ///      `slashBps` of each listed participant's stake at the round's opening into the
    ///      treasury.
    /// @param round The current round.
    /// @param modelCid Binary CID of the aggregated model (1..128 bytes).
    /// @param rewardRoot Merkle root of the contributor rewards (OpenZeppelin leaf format).
    /// @param slash Participants to slash, strictly ascending, at most 16.
    function submitOutcome(
        uint256 round,
        bytes calldata modelCid,
        bytes32 rewardRoot,
        address[] calldata slash
    ) external {
        _checkCidCalldata(modelCid);
        _checkSlashList(slash);
        Round storage rd = _rounds[round];
        RoundStatus status = _checkVoteWindow(round, rd);
        bytes32 outcomeId = outcomeIdOf(modelCid, rewardRoot, slash);
        uint256 votes = _recordVote(round, outcomeId);
        if (status == RoundStatus.Open && votes * 3 >= uint256(rd.stakeSnapshot) * 2) {
            _finalize(round, rd, modelCid, rewardRoot, outcomeId, slash);
        }
    }

    /* ------------------------------------------------------------------ */
    /*                          MUTATIVE: REWARDS                         */
    /* ------------------------------------------------------------------ */

    /// @notice Claim the caller's contributor reward for `round`.
    /// @param round A finalized round.
    /// @param amount The amount in the caller's reward leaf.
    /// @param proof Merkle proof of keccak256(keccak256(abi.encode(round, caller, amount))).
    function claim(uint256 round, uint256 amount, bytes32[] calldata proof) external {
        _recordClaim(round, amount, proof);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Claim the caller's contributor rewards for several rounds in one transfer.
    /// @param rounds Finalized rounds (at most 32).
    /// @param amounts The amount in the caller's leaf for each round.
    /// @param proofs The Merkle proof for each round.
    function claimMany(
        uint256[] calldata rounds,
        uint256[] calldata amounts,
        bytes32[][] calldata proofs
    ) external {
        uint256 n = rounds.length;
        if (n > MAX_CLAIM_BATCH) revert BatchTooLarge(n, MAX_CLAIM_BATCH);
        if (amounts.length != n || proofs.length != n) revert LengthMismatch();
        uint256 total = 0;
        for (uint256 i; i < n; ++i) {
            _recordClaim(rounds[i], amounts[i], proofs[i]);
            total += amounts[i];
        }
        token.safeTransfer(msg.sender, total);
    }

    /// @notice Claim the caller's share of `round`'s voter pool.
    /// @dev Pays voterPool * weight / winningWeight to voters on the finalized outcome, once
    ///      the vote deadline passed or the next round opened (no more votes can count).
    /// @param round A finalized round.
    function claimVoterReward(uint256 round) external {
        Round storage rd = _rounds[round];
        if (rd.status != RoundStatus.Finalized) revert RoundNotFinalized(round);
        if (block.timestamp < rd.voteDeadline && round == currentRound) {
            revert VoterRewardLocked(round, rd.voteDeadline);
        }
        Vote storage v = _votes[round][msg.sender];
        bytes16 winning = rd.outcomeKey;
        if (v.outcomeKey != winning) revert NotWinningVoter(round, msg.sender);
        if (v.rewardClaimed) revert AlreadyClaimed(round, msg.sender);

        uint256 amount = uint256(rd.voterPool) * v.weight / _votesFor[round][winning];
        v.rewardClaimed = true;
        // amount <= voterPool, a uint128.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.voterClaimed += uint128(amount);
        emit VoterRewardClaimed(round, msg.sender, amount);

        if (amount != 0) token.safeTransfer(msg.sender, amount);
    }

    /* ------------------------------------------------------------------ */
    /*                              RESTRICTED                            */
    /* ------------------------------------------------------------------ */

    /// @notice Stop new rounds from opening (the current round can still complete).
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Let new rounds open again.
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Ownership can only be handed over (two steps), never renounced: an ownerless
    ///         coordinator could stay paused forever.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }

    /// @notice Set the smallest stake that registers or keeps a participant active.
    /// @dev Applies to registrations, top-ups, unstake requests and slashes from now on;
    ///      participants already active are not re-checked.
    /// @param value New minimum, in [1, MAX_MIN_STAKE].
    function setMinStake(uint256 value) external onlyOwner {
        _bound("minStake", value, 1, MAX_MIN_STAKE);
        emit ParamUpdated("minStake", _params.minStake, value);
        _params.minStake = value;
    }

    /// @notice Set the commit window of rounds opened from now on.
    /// @param value Seconds, in [MIN_WINDOW, MAX_WINDOW].
    function setCommitWindow(uint64 value) external onlyOwner {
        _bound("commitWindow", value, MIN_WINDOW, MAX_WINDOW);
        emit ParamUpdated("commitWindow", _params.commitWindow, value);
        _params.commitWindow = value;
    }

    /// @notice Set the vote window of rounds opened from now on.
    /// @param value Seconds, in [MIN_WINDOW, MAX_WINDOW].
    function setVoteWindow(uint64 value) external onlyOwner {
        _bound("voteWindow", value, MIN_WINDOW, MAX_WINDOW);
        emit ParamUpdated("voteWindow", _params.voteWindow, value);
        _params.voteWindow = value;
    }

    /// @notice Set the tokens moved from the treasury into each round finalized from now on.
    /// @param value Tokens, in [0, MAX_REWARD_PER_ROUND].
    function setRewardPerRound(uint256 value) external onlyOwner {
        _bound("rewardPerRound", value, 0, MAX_REWARD_PER_ROUND);
        emit ParamUpdated("rewardPerRound", _params.rewardPerRound, value);
        _params.rewardPerRound = value;
    }

    /// @notice Set the voters' share of the pools of rounds finalized from now on.
    /// @param value Basis points, in [0, MAX_VOTER_SHARE_BPS].
    function setVoterShareBps(uint16 value) external onlyOwner {
        _bound("voterShareBps", value, 0, MAX_VOTER_SHARE_BPS);
        emit ParamUpdated("voterShareBps", _params.voterShareBps, value);
        _params.voterShareBps = value;
    }

    /// @notice Set the share of a slashed participant's stake moved to the treasury.
    /// @dev Applies to rounds finalized from now on.
    /// @param value Basis points, in [0, MAX_SLASH_BPS].
    function setSlashBps(uint16 value) external onlyOwner {
        _bound("slashBps", value, 0, MAX_SLASH_BPS);
        emit ParamUpdated("slashBps", _params.slashBps, value);
        _params.slashBps = value;
    }

    /// @notice Set how many active participants a new round needs.
    /// @param value Participants, in [1, MAX_MIN_PARTICIPANTS].
    function setMinParticipants(uint32 value) external onlyOwner {
        _bound("minParticipants", value, 1, MAX_MIN_PARTICIPANTS);
        emit ParamUpdated("minParticipants", _params.minParticipants, value);
        _params.minParticipants = value;
    }

    /// @notice Set the cool-down of unstake requests made from now on.
    /// @param value Seconds, in [MIN_COOLDOWN, MAX_COOLDOWN].
    function setUnstakeCooldown(uint64 value) external onlyOwner {
        _bound("unstakeCooldown", value, MIN_COOLDOWN, MAX_COOLDOWN);
        emit ParamUpdated("unstakeCooldown", _params.unstakeCooldown, value);
        _params.unstakeCooldown = value;
    }

    /* ------------------------------------------------------------------ */
    /*                               INTERNAL                             */
    /* ------------------------------------------------------------------ */

    /// @dev Reverts unless `round` is current, Open or Finalized, and in its vote window.
    function _checkVoteWindow(uint256 round, Round storage rd)
        private
        view
        returns (RoundStatus status)
    {
        if (round != currentRound) revert NotCurrentRound(round, currentRound);
        status = rd.status;
        if (status != RoundStatus.Open && status != RoundStatus.Finalized) {
            revert RoundNotOpen(round);
        }
        uint256 opensAt = rd.closedAt != 0 ? rd.closedAt : rd.commitDeadline;
        if (block.timestamp < opensAt) revert VoteWindowNotOpen(round, opensAt);
        if (block.timestamp >= rd.voteDeadline) revert VoteWindowClosed(round);
    }

    /// @dev Records the caller's vote for `outcomeId`; returns the outcome's total weight.
    function _recordVote(uint256 round, bytes32 outcomeId) private returns (uint256 votes) {
        Participant storage p = _participants[msg.sender];
        if (!p.active || p.activeFrom > round) revert NotEligible(round, msg.sender);
        Vote storage v = _votes[round][msg.sender];
        if (v.outcomeKey != bytes16(0)) revert AlreadyVoted(round, msg.sender);

        uint256 weight = _stakeAt(p, round);
        bytes16 key = bytes16(outcomeId);
        v.outcomeKey = key;
        v.weight = SafeCast.toUint120(weight);
        votes = _votesFor[round][key] + weight;
        _votesFor[round][key] = votes;
        emit OutcomeSubmitted(round, msg.sender, outcomeId, weight);
    }

    function _open(uint256 round) private {
        uint40 now_ = uint40(block.timestamp);
        uint40 commitDeadline = now_ + uint40(_params.commitWindow);
        uint40 voteDeadline = commitDeadline + uint40(_params.voteWindow);
        uint32 eligible = SafeCast.toUint32(activeCount);
        uint128 snapshot = SafeCast.toUint128(activeStake);
        Round storage rd = _rounds[round];
        rd.status = RoundStatus.Open;
        rd.openedAt = now_;
        rd.commitDeadline = commitDeadline;
        rd.voteDeadline = voteDeadline;
        rd.eligibleCount = eligible;
        rd.stakeSnapshot = snapshot;

        // Reserve the round's reward: min(rewardPerRound, treasury), split at today's share.
        uint256 available = treasury;
        uint256 reward = _params.rewardPerRound;
        uint256 pool = reward < available ? reward : available;
        uint256 voterPool = pool * _params.voterShareBps / BPS;
        treasury = available - pool;
        // pool <= rewardPerRound <= MAX_REWARD_PER_ROUND < 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.voterPool = uint128(voterPool);
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.contributorPool = uint128(pool - voterPool);
        emit RoundOpened(round, commitDeadline, voteDeadline, eligible, snapshot);
    }

    function _finalize(
        uint256 round,
        Round storage rd,
        bytes calldata modelCid,
        bytes32 rewardRoot,
        bytes32 outcomeId,
        address[] calldata slash
    ) private {
        rd.status = RoundStatus.Finalized;
        rd.rewardRoot = rewardRoot;
        rd.outcomeKey = bytes16(outcomeId);
        _latestModelCid = modelCid;
        emit Finalized(round, modelCid, rewardRoot, outcomeId);

        for (uint256 i; i < slash.length; ++i) {
            _slash(round, slash[i]);
        }
    }

    /// @dev Slashes `slashBps` of the stake `account` had when `round` opened (the stake that
    ///      took part), from its stake first, then from tokens it requested out during the
    ///      round (still locked: they unlock no earlier than this round's vote deadline).
    function _slash(uint256 round, address account) private {
        Participant storage p = _participants[account];
        uint256 amount = _stakeAt(p, round) * _params.slashBps / BPS;
        if (amount == 0) return;
        uint256 current = p.stake;
        uint256 fromStake = amount < current ? amount : current;
        uint256 fromUnbonding = amount - fromStake;
        if (fromUnbonding != 0) {
            uint256 unbonding = p.unbonding;
            if (fromUnbonding > unbonding) fromUnbonding = unbonding; // unreachable; defensive
            // fromUnbonding <= unbonding, a uint128.
            // forge-lint: disable-next-line(unsafe-typecast)
            p.unbonding = uint128(unbonding - fromUnbonding);
            totalUnbonding -= fromUnbonding;
            amount = fromStake + fromUnbonding;
        }

        uint256 remaining = current - fromStake;
        if (fromStake != 0) {
            _setStake(p, remaining);
            totalStaked -= fromStake;
            if (p.active) activeStake -= fromStake;
        }
        treasury += amount;
        if (p.active && remaining < _params.minStake) _deactivate(account, p);
        emit Slashed(round, account, amount);
    }

    function _recordClaim(uint256 round, uint256 amount, bytes32[] calldata proof) private {
        if (amount == 0) revert AmountZero();
        Round storage rd = _rounds[round];
        if (rd.status != RoundStatus.Finalized) revert RoundNotFinalized(round);
        BitMaps.BitMap storage claimed = _claimedRounds[msg.sender];
        if (claimed.get(round)) revert AlreadyClaimed(round, msg.sender);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(round, msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, rd.rewardRoot, leaf)) {
            revert InvalidProof(round, msg.sender, amount);
        }
        uint256 available = rd.contributorPool - rd.contributorClaimed;
        if (amount > available) revert PoolExhausted(round, amount, available);

        claimed.set(round);
        // amount <= contributorPool - contributorClaimed, a uint128.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.contributorClaimed += uint128(amount);
        emit RewardClaimed(round, msg.sender, amount);
    }

    function _activate(address account, Participant storage p) private {
        uint256 fromRound = currentRound + 1;
        p.active = true;
        // Rounds advance one per transaction: 2^56 is out of reach.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.activeFrom = uint56(fromRound);
        activeCount += 1;
        activeStake += p.stake;
        emit Activated(account, fromRound);
    }

    function _deactivate(address account, Participant storage p) private {
        p.active = false;
        activeCount -= 1;
        activeStake -= p.stake;
        emit Deactivated(account);
    }

    /// @dev Every stake change goes through here so the stake at the current round's opening
    ///      stays readable in O(1).
    function _setStake(Participant storage p, uint256 newStake) private {
        // Rounds advance one per transaction: 2^64 is out of reach.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 round = uint64(currentRound);
        if (p.checkpointRound != round) {
            p.checkpointRound = round;
            p.stakeAtCheckpoint = p.stake;
        }
        p.stake = SafeCast.toUint128(newStake);
    }

    function _stakeAt(Participant storage p, uint256 round) private view returns (uint256) {
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

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert ParamOutOfRange(name, value, min, max);
    }

    /// @dev A binary CIDv1 starts with the version byte 0x01.
    function _checkCid(bytes memory cid) private pure {
        if (cid.length == 0 || cid.length > MAX_CID_LENGTH || cid[0] != 0x01) revert InvalidCid();
    }

    function _checkCidCalldata(bytes calldata cid) private pure {
        if (cid.length == 0 || cid.length > MAX_CID_LENGTH || cid[0] != 0x01) revert InvalidCid();
    }

    function _checkPeer(bytes calldata peerId, string[] calldata addrs) private pure {
        if (peerId.length == 0 || peerId.length > MAX_PEER_ID_LENGTH) revert InvalidPeerId();
        if (addrs.length > MAX_ADDRS) revert TooManyAddrs(addrs.length, MAX_ADDRS);
        for (uint256 i; i < addrs.length; ++i) {
            uint256 length = bytes(addrs[i]).length;
            if (length > MAX_ADDR_LENGTH) revert AddrTooLong(i, length, MAX_ADDR_LENGTH);
        }
    }

    function _checkSlashList(address[] calldata slash) private pure {
        if (slash.length > MAX_SLASH) revert SlashListTooLong(slash.length, MAX_SLASH);
        for (uint256 i = 1; i < slash.length; ++i) {
            if (slash[i] <= slash[i - 1]) revert SlashListUnsorted(i);
        }
    }
}
