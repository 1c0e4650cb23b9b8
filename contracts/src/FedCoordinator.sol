// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {CoordinatorCommittee} from "./CoordinatorCommittee.sol";

/// @title FedCoordinator
/// @notice Staking registry, round clock, commitment log, outcome vote and reward
///         distribution for one fedchain federated-learning task.
/// @dev Round r: `advance()` applies staged parameters, opens it and snapshots the active
///      stake; eligible participants `commit` their update CID until the commit deadline
///      (the window closes early once every eligible participant committed); then each
///      submits the agreed outcome (new model CID, reward Merkle root, sorted slash list).
///      The first outcome backed by 2/3 of the snapshotted stake finalizes the round.
///      Contributors claim with Merkle proofs, winning voters claim a stake-weighted voter
///      share, both until the round's claim deadline; then anyone may `sweep` what is left
///      back to the treasury. A round that misses its quorum by the vote deadline is marked
///      Failed by the next `advance()`.
///
///      Votes are accepted for the current round only, so a voter's weight is its stake at
///      the round's opening, read from one O(1) checkpoint per participant. Winning votes
///      that arrive after finalization still count until the vote deadline or until the
///      next round opens, whichever is first; `advance()` waits `lateVoteGrace` after the
///      finalization (unless everyone voted for the outcome), and voter rewards are
///      claimable only once no more votes can count.
///
///      With `committeeSize` K set below the active count, the opening draws K members
///      (CoordinatorCommittee): eligibility, the early close and the quorum are then over
///      the members and their stake.
///
///      The token must be a plain ERC-20 (no fee on transfer, no rebasing).
contract FedCoordinator is CoordinatorCommittee, Pausable {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    /* ------------------------------------------------------------------ */
    /*                              CONSTANTS                             */
    /* ------------------------------------------------------------------ */

    uint256 public constant MAX_SLASH = 16;
    uint256 internal constant MAX_CID_LENGTH = 128;
    uint256 internal constant MAX_CLAIM_BATCH = 32;

    /* ------------------------------------------------------------------ */
    /*                                STATE                               */
    /* ------------------------------------------------------------------ */

    /// @dev Written at opening so that finalization and claims mostly update non-zero slots.
    ///      Slot 0: clock, counts and whether a committee was drawn (`openedAt` is only
    ///      reported, 32 bits hold it to 2106, so `commit` reads one slot). Slot 1: snapshot and winning key (votes, finalization).
    ///      Slot 2: everything a contributor claim reads and writes. Slot 3: the same for
    ///      voter claims (`claimPeriod` is stored in both so each claim reads one slot).
    ///      Pools fit 104 bits: each is at most `MAX_REWARD_PER_ROUND` = 1e30 < 2^100; claim
    ///      periods fit 32 bits (at most `MAX_CLAIM_PERIOD` = 365 days).
    struct Round {
        RoundStatus status;
        bool sampled;
        uint32 openedAt;
        uint40 commitDeadline;
        uint40 closedAt;
        uint40 voteDeadline;
        uint40 finalizedAt;
        uint24 eligibleCount;
        uint24 commitCount;
        uint128 stakeSnapshot;
        bytes16 outcomeKey; // first 16 bytes of the winning outcome id
        uint104 contributorPool;
        uint104 contributorClaimed;
        uint32 claimPeriod; // the claim period in force when the round opened
        uint104 voterPool;
        uint104 voterClaimed;
        uint32 voterClaimPeriod; // equal to `claimPeriod`
        uint16 agreedMetric; // set at finalization (see `agreedMetric`)
        bytes32 rewardRoot;
    }

    /// @dev One slot. Outcomes are keyed by the first 16 bytes of their id: finding another
    ///      outcome with the winning key is a 2^128 second-preimage search.
    struct Vote {
        bytes16 outcomeKey;
        uint120 weight;
        bool rewardClaimed;
    }

    /// @dev What voted for one outcome: total weight and the sum of weight * metricBps / BPS
    ///      (each term rounded down: less than one token unit per vote), so the stake-weighted
    ///      mean metric is `metricMass * BPS / weight`. Both fit 128 bits: the weights sum to
    ///      at most the round's `uint128` snapshot, and `metricMass <= weight`.
    struct Tally {
        uint128 weight;
        uint128 metricMass;
    }

    /// @dev Stop-rule bookkeeping in one word (packed by hand: the compiler's struct code
    ///      cost 300 bytes more of the EIP-170 budget). Bits 0-31: finalized rounds; 32-47:
    ///      best agreed metric; 48-79: finalized rounds since it improved; 80-111: the round
    ///      that finished the deployment (0: running). Each is at most the round number.
    uint256 private _stopWord;

    /// @notice Identifier of the learning task this coordinator runs.
    bytes32 public immutable taskId;

    bytes private _genesisModelCid;
    bytes private _latestModelCid;

    mapping(uint256 round => Round) private _rounds;
    mapping(uint256 round => mapping(address author => bytes32 cidHash)) private _commitments;
    mapping(uint256 round => mapping(address voter => Vote)) private _votes;
    mapping(uint256 round => mapping(bytes16 outcomeKey => Tally tally)) private _votesFor;
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
    ) CoordinatorCommittee(token_, params_) {
        _checkCid(genesisModelCid_);
        taskId = taskId_;
        _genesisModelCid = genesisModelCid_;
        _latestModelCid = genesisModelCid_;
    }

    /* ------------------------------------------------------------------ */
    /*                                VIEWS                               */
    /* ------------------------------------------------------------------ */

    /// @notice Binary CID of the genesis model.
    function genesisModelCid() external view returns (bytes memory) {
        return _genesisModelCid;
    }

    /// @notice Binary CID of the model of the latest finalized round (genesis before any).
    function latestModelCid() external view returns (bytes memory) {
        return _latestModelCid;
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
        info.winningWeight =
            rd.outcomeKey == bytes16(0) ? 0 : _votesFor[round][rd.outcomeKey].weight;
        info.contributorClaimed = rd.contributorClaimed;
        info.voterClaimed = rd.voterClaimed;
        info.finalizedAt = rd.finalizedAt;
    }

    /// @notice First time at which `round`'s rewards can no longer be claimed and `sweep`
    ///         may return what is left: its vote deadline plus the claim period it opened
    ///         with (0 for a round never opened).
    /// @param round The round.
    function claimDeadline(uint256 round) public view returns (uint256) {
        Round storage rd = _rounds[round];
        if (rd.status == RoundStatus.None) return 0;
        return uint256(rd.voteDeadline) + rd.claimPeriod;
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
        // Outcomes are keyed by the first 16 bytes of their id, on purpose.
        // forge-lint: disable-next-line(unsafe-typecast)
        return _votesFor[round][bytes16(outcomeId)].weight;
    }

    /// @notice Whether the stop rule fired: no round opens any more.
    function finished() external view returns (bool) {
        return _finishedRound() != 0;
    }

    /// @notice Binary CID of the final model (the round that finished the deployment); empty
    ///         while the deployment runs.
    function finalModelCid() external view returns (bytes memory) {
        return _finishedRound() != 0 ? _latestModelCid : bytes("");
    }

    /// @notice `round`'s agreed metric in basis points: the stake-weighted mean of the
    ///         metrics its winning voters submitted up to finalization (0 unless finalized).
    /// @param round The round.
    function agreedMetric(uint256 round) external view returns (uint256) {
        return _rounds[round].agreedMetric;
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
    /*                           MUTATIVE: ROUNDS                         */
    /* ------------------------------------------------------------------ */

    /// @notice Move the round clock: mark an expired round Failed, open the next round.
    /// @dev Anyone may call. Opens round 1 once `minParticipants` are active; opens the next
    ///      round when the current one is Failed, or Finalized and past its late-vote grace
    ///      (`GraceActive` before); marks the current round Failed when its vote deadline
    ///      passed without quorum, also while paused. Applies staged parameters just before
    ///      opening (the staged `minParticipants` is the one checked). While paused it opens
    ///      nothing (`EnforcedPause`). Reverts when there is nothing to do.
    /// @return round The round current after the call.
    function advance() external returns (uint256 round) {
        uint256 finishedRound = _finishedRound();
        if (finishedRound != 0) revert DeploymentOver(finishedRound);
        round = currentRound;
        bool failed = false;
        if (round != 0) {
            Round storage cur = _rounds[round];
            RoundStatus status = cur.status;
            if (status == RoundStatus.Open) {
                if (block.timestamp < cur.voteDeadline) {
                    revert RoundInProgress(round, cur.voteDeadline);
                }
                failed = true;
                _fail(round, cur);
            } else if (status == RoundStatus.Finalized) {
                _checkGrace(round, cur);
            }
        }
        if (failed && paused()) return round;
        _requireNotPaused();
        uint256 minParticipants = _nextMinParticipants();
        if (activeCount < minParticipants) {
            if (failed) return round;
            revert NotEnoughParticipants(activeCount, minParticipants);
        }
        round += 1;
        currentRound = round;
        _applyPendingParams(round);
        _open(round);
    }

    /// @notice Commit the CID of the caller's update for `round`.
    /// @dev Only during the commit window, only participants active since before the round
    ///      opened (and drawn, in a sampled round: `NotSelected` otherwise), once per round. Stores keccak256(cid); the event carries the full CID.
    /// @param round The current round.
    /// @param cid Binary CIDv1 of the update blob (starts with 0x01, at most 128 bytes).
    function commit(uint256 round, bytes calldata cid) external {
        _checkCidCalldata(cid);
        Round storage rd = _rounds[round];
        // Only the current round can be Open: advance() settles a round before the next.
        if (rd.status != RoundStatus.Open) revert RoundNotOpen(round);
        uint24 commitCount = rd.commitCount;
        uint24 eligibleCount = rd.eligibleCount;
        if (block.timestamp >= rd.commitDeadline || rd.closedAt != 0) {
            revert CommitWindowClosed(round);
        }
        Participant storage p = _participants[msg.sender];
        if (!p.active || p.activeFrom > round) revert NotEligible(round, msg.sender);
        if (rd.sampled) _checkSelected(round, p);
        if (_commitments[round][msg.sender] != bytes32(0)) {
            revert AlreadyCommitted(round, msg.sender);
        }

        _commitments[round][msg.sender] = keccak256(cid);
        // At most eligibleCount (each eligible participant commits once).
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
    /// @dev During the vote window of the current round, once per eligible (and, in a
    ///      sampled round, drawn) participant, weighted by the voter's stake at the round's
    ///      opening. On finalization: records the model CID
    ///      and reward root (the round's pools were reserved when it opened; with a zero
    ///      root the contributor pool returns to the treasury), and slashes `slashBps` of
    ///      the stake at the round's opening of each listed participant that committed in
    ///      the round into the treasury (others are skipped).
    /// @param round The current round.
    /// @param modelCid Binary CID of the aggregated model (1..128 bytes).
    /// @param rewardRoot Merkle root of the contributor rewards (OpenZeppelin leaf format).
    /// @param slash Participants to slash, strictly ascending, at most 16.
    /// @param metricBps The caller's evaluation of the model `modelCid` on its own validation
    ///        data, in basis points (at most BPS); the winning voters' stake-weighted mean
    ///        at finalization is the round's agreed metric, which the stop rule reads.
    function submitOutcome(
        uint256 round,
        bytes calldata modelCid,
        bytes32 rewardRoot,
        address[] calldata slash,
        uint16 metricBps
    ) external {
        _checkCidCalldata(modelCid);
        _checkSlashList(slash);
        if (metricBps > BPS) revert InvalidMetric(metricBps);
        Round storage rd = _rounds[round];
        RoundStatus status = _checkVoteWindow(round, rd);
        bytes32 outcomeId = outcomeIdOf(modelCid, rewardRoot, slash);
        uint256 votes = _recordVote(round, rd.sampled, outcomeId, metricBps);
        if (status == RoundStatus.Open && votes * 3 >= uint256(rd.stakeSnapshot) * 2) {
            _finalize(round, rd, modelCid, rewardRoot, outcomeId, slash);
        }
    }

    /* ------------------------------------------------------------------ */
    /*                          MUTATIVE: REWARDS                         */
    /* ------------------------------------------------------------------ */

    /// @notice Claim the caller's contributor reward for `round`.
    /// @param round A finalized round, before its claim deadline.
    /// @param amount The amount in the caller's reward leaf.
    /// @param proof Merkle proof of keccak256(keccak256(abi.encode(round, caller, amount))).
    function claim(uint256 round, uint256 amount, bytes32[] calldata proof) external {
        _recordClaim(round, amount, proof);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Claim the caller's contributor rewards for several rounds in one transfer.
    /// @param rounds Finalized rounds before their claim deadlines (at most 32).
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
    ///      the vote deadline passed or the next round opened (no more votes can count), and
    ///      before the claim deadline.
    /// @param round A finalized round.
    function claimVoterReward(uint256 round) external {
        Round storage rd = _rounds[round];
        if (rd.status != RoundStatus.Finalized) revert RoundNotFinalized(round);
        uint256 voteDeadline = rd.voteDeadline;
        if (block.timestamp < voteDeadline && round == currentRound) {
            revert VoterRewardLocked(round, voteDeadline);
        }
        uint256 deadline = voteDeadline + rd.voterClaimPeriod;
        if (block.timestamp >= deadline) revert ClaimPeriodOver(round, deadline);
        Vote storage v = _votes[round][msg.sender];
        bytes16 winning = rd.outcomeKey;
        if (v.outcomeKey != winning) revert NotWinningVoter(round, msg.sender);
        if (v.rewardClaimed) revert AlreadyClaimed(round, msg.sender);

        uint256 amount = uint256(rd.voterPool) * v.weight / _votesFor[round][winning].weight;
        v.rewardClaimed = true;
        // amount <= voterPool - voterClaimed (weights sum to the winning weight), 104 bits.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.voterClaimed += uint104(amount);
        emit VoterRewardClaimed(round, msg.sender, amount);

        if (amount != 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice Return what is left of a finalized round's pools (unclaimed rewards and
    ///         rounding dust) to the treasury once its claim deadline passed.
    /// @dev Anyone may call; no tokens leave the contract.
    /// @param round A finalized round.
    function sweep(uint256 round) external {
        Round storage rd = _rounds[round];
        if (rd.status != RoundStatus.Finalized) revert RoundNotFinalized(round);
        uint256 deadline = claimDeadline(round);
        if (block.timestamp < deadline) revert ClaimPeriodActive(round, deadline);
        uint104 contributorPool = rd.contributorPool;
        uint104 voterPool = rd.voterPool;
        uint256 contributorAmount = contributorPool - rd.contributorClaimed;
        uint256 voterAmount = voterPool - rd.voterClaimed;
        if (contributorAmount == 0 && voterAmount == 0) revert NothingToSweep(round);

        rd.contributorClaimed = contributorPool;
        rd.voterClaimed = voterPool;
        treasury += contributorAmount + voterAmount;
        emit Swept(round, contributorAmount, voterAmount);
    }

    /* ------------------------------------------------------------------ */
    /*                              RESTRICTED                            */
    /* ------------------------------------------------------------------ */

    /// @notice Stop new rounds from opening (the current round can still complete, an
    ///         expired one can still be failed by `advance`, stakes and rewards stay
    ///         withdrawable).
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Let new rounds open again.
    function unpause() external onlyOwner {
        _unpause();
    }

    /* ------------------------------------------------------------------ */
    /*                               INTERNAL                             */
    /* ------------------------------------------------------------------ */

    /// @dev A finalized round still takes late winning votes (weighted by stake at opening)
    ///      until its deadline, so tokens staked in it stay locked until then too.
    function _currentVoteDeadline() internal view override returns (uint256) {
        Round storage rd = _rounds[currentRound];
        RoundStatus status = rd.status;
        bool votable = status == RoundStatus.Open || status == RoundStatus.Finalized;
        return votable ? rd.voteDeadline : 0;
    }

    /// @dev Reverts while a finalized round's late winning votes can still arrive: until
    ///      `lateVoteGrace` after finalization, capped at the vote deadline, unless the whole
    ///      snapshot already voted for the outcome.
    function _checkGrace(uint256 round, Round storage rd) private view {
        uint256 until = uint256(rd.finalizedAt) + _params.lateVoteGrace;
        uint256 voteDeadline = rd.voteDeadline;
        if (until > voteDeadline) until = voteDeadline;
        if (block.timestamp >= until) return;
        if (_votesFor[round][rd.outcomeKey].weight >= rd.stakeSnapshot) return;
        revert GraceActive(round, until);
    }

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

    /// @dev Records the caller's vote for `outcomeId` with its metric; returns the outcome's
    ///      total weight.
    function _recordVote(uint256 round, bool sampled, bytes32 outcomeId, uint16 metricBps)
        private
        returns (uint256 votes)
    {
        Participant storage p = _participants[msg.sender];
        if (!p.active || p.activeFrom > round) revert NotEligible(round, msg.sender);
        if (sampled) _checkSelected(round, p);
        Vote storage v = _votes[round][msg.sender];
        if (v.outcomeKey != bytes16(0)) revert AlreadyVoted(round, msg.sender);

        uint256 weight = _stakeAt(p, round);
        // Outcomes are keyed by the first 16 bytes of their id, on purpose.
        // forge-lint: disable-next-line(unsafe-typecast)
        bytes16 key = bytes16(outcomeId);
        v.outcomeKey = key;
        v.weight = SafeCast.toUint120(weight);
        // round == currentRound: 2^40 is out of reach (see Participant).
        // forge-lint: disable-next-line(unsafe-typecast)
        p.lastVotedRound = uint40(round);
        Tally storage t = _votesFor[round][key];
        votes = t.weight + weight;
        // votes <= stakeSnapshot (uint128); the mass grows by at most the weight.
        // forge-lint: disable-next-line(unsafe-typecast)
        t.weight = uint128(votes);
        // forge-lint: disable-next-line(unsafe-typecast)
        t.metricMass += uint128(weight * metricBps / BPS);
        emit OutcomeSubmitted(round, msg.sender, outcomeId, weight, metricBps);
    }

    /// @dev Opens `round`: everyone active takes part, unless `committeeSize` is set and
    ///      below the active count, in which case that many members are drawn.
    function _open(uint256 round) private {
        uint40 now_ = uint40(block.timestamp);
        uint40 commitDeadline = now_ + uint40(_params.commitWindow);
        uint40 voteDeadline = commitDeadline + uint40(_params.voteWindow);
        uint256 committee = _params.committeeSize;
        bool sampled = committee != 0 && committee < activeCount;
        uint24 eligible = SafeCast.toUint24(sampled ? committee : activeCount);
        uint128 snapshot =
            SafeCast.toUint128(sampled ? _drawCommittee(round, committee) : activeStake);
        // claimPeriod <= MAX_CLAIM_PERIOD (365 days).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 claimPeriod = uint32(_params.claimPeriod);
        Round storage rd = _rounds[round];
        rd.status = RoundStatus.Open;
        // Reported only; wraps in 2106.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.openedAt = uint32(now_);
        rd.sampled = sampled;
        rd.commitDeadline = commitDeadline;
        rd.voteDeadline = voteDeadline;
        rd.eligibleCount = eligible;
        rd.stakeSnapshot = snapshot;
        rd.claimPeriod = claimPeriod;
        rd.voterClaimPeriod = claimPeriod;

        // Reserve the round's reward: min(rewardPerRound, treasury), split at today's share.
        uint256 available = treasury;
        uint256 reward = _params.rewardPerRound;
        uint256 pool = reward < available ? reward : available;
        uint256 voterPool = pool * _params.voterShareBps / BPS;
        uint256 contributorPool = pool - voterPool;
        treasury = available - pool;
        // pool <= rewardPerRound <= MAX_REWARD_PER_ROUND < 2^100.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.voterPool = uint104(voterPool);
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.contributorPool = uint104(contributorPool);
        emit RoundOpened(
            round, commitDeadline, voteDeadline, eligible, snapshot, contributorPool, voterPool
        );
    }

    /// @dev Marks an expired Open round Failed; its pools go back to the treasury.
    function _fail(uint256 round, Round storage rd) private {
        uint256 refund = uint256(rd.contributorPool) + rd.voterPool;
        rd.status = RoundStatus.Failed;
        rd.contributorPool = 0;
        rd.voterPool = 0;
        treasury += refund;
        emit RoundFailed(round, refund);
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
        rd.finalizedAt = uint40(block.timestamp);
        rd.rewardRoot = rewardRoot;
        // Outcomes are keyed by the first 16 bytes of their id, on purpose.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.outcomeKey = bytes16(outcomeId);
        _latestModelCid = modelCid;
        uint256 refund = 0;
        if (rewardRoot == bytes32(0)) {
            // No reward tree: nobody can claim the contributor pool.
            refund = rd.contributorPool;
            rd.contributorPool = 0;
            treasury += refund;
        }
        emit Finalized(round, modelCid, rewardRoot, outcomeId, slash, refund);
        _applyStopRule(round, rd, modelCid);

        for (uint256 i; i < slash.length; ++i) {
            _slash(round, slash[i]);
        }
    }

    /// @dev Records `round`'s agreed metric (the winning voters' stake-weighted mean so far)
    ///      and finishes the deployment when the stop rule fires: target reached, first;
    ///      then `patience` finalized rounds in a row without a better metric; then
    ///      `maxRounds` finalized rounds.
    function _applyStopRule(uint256 round, Round storage rd, bytes calldata modelCid) private {
        Tally storage t = _votesFor[round][rd.outcomeKey];
        // metricMass <= weight, so the mean is at most BPS; weight > 0 at a quorum.
        uint256 metric = uint256(t.metricMass) * BPS / t.weight;
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.agreedMetric = uint16(metric);
        uint256 w = _stopWord;
        uint256 count = (w & 0xffffffff) + 1;
        uint256 best = (w >> 32) & 0xffff;
        uint256 sinceBest = metric > best ? 0 : ((w >> 48) & 0xffffffff) + 1;
        if (sinceBest == 0) best = metric;
        StopReason reason = _stopReason(metric, sinceBest, count);
        uint256 finishedRound = reason == StopReason.None ? 0 : round;
        _stopWord = count | (best << 32) | (sinceBest << 48) | (finishedRound << 80);
        if (finishedRound != 0) {
            // forge-lint: disable-next-line(unsafe-typecast)
            emit DeploymentFinished(round, reason, uint16(metric), modelCid);
        }
    }

    /// @dev Which stop condition holds, in priority order (None: keep going).
    function _stopReason(uint256 metric, uint256 sinceBest, uint256 count)
        private
        view
        returns (StopReason)
    {
        Params storage p = _params;
        uint256 target = p.targetMetricBps;
        uint256 patience = p.patience;
        uint256 maxRounds = p.maxRounds;
        if (target != 0 && metric >= target) return StopReason.TargetReached;
        if (patience != 0 && sinceBest >= patience) return StopReason.NoImprovement;
        if (maxRounds != 0 && count >= maxRounds) return StopReason.MaxRounds;
        return StopReason.None;
    }

    /// @dev The round whose finalization finished the deployment (0 while it runs).
    function _finishedRound() private view returns (uint256) {
        return _stopWord >> 80;
    }

    /// @dev Slashes `slashBps` of the stake `account` had when `round` opened (the stake that
    ///      took part), from its stake first, then from tokens it requested out during the
    ///      round (still locked: they unlock no earlier than this round's vote deadline).
    ///      A no-op unless `account` committed in `round` (which needs eligibility at the
    ///      opening), so nobody outside the round's snapshot is ever slashed.
    function _slash(uint256 round, address account) private {
        if (_commitments[round][account] == bytes32(0)) return;
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
            if (p.active) _subActive(p, fromStake);
        }
        treasury += amount;
        if (p.active && remaining < _params.minStake) _deactivate(account, p);
        emit Slashed(round, account, amount);
    }

    function _recordClaim(uint256 round, uint256 amount, bytes32[] calldata proof) private {
        if (amount == 0) revert AmountZero();
        Round storage rd = _rounds[round];
        if (rd.status != RoundStatus.Finalized) revert RoundNotFinalized(round);
        uint256 deadline = uint256(rd.voteDeadline) + rd.claimPeriod;
        if (block.timestamp >= deadline) revert ClaimPeriodOver(round, deadline);
        BitMaps.BitMap storage claimed = _claimedRounds[msg.sender];
        if (claimed.get(round)) revert AlreadyClaimed(round, msg.sender);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(round, msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, rd.rewardRoot, leaf)) {
            revert InvalidProof(round, msg.sender, amount);
        }
        uint256 available = rd.contributorPool - rd.contributorClaimed;
        if (amount > available) revert PoolExhausted(round, amount, available);

        claimed.set(round);
        // amount <= contributorPool - contributorClaimed, 104 bits.
        // forge-lint: disable-next-line(unsafe-typecast)
        rd.contributorClaimed += uint104(amount);
        emit RewardClaimed(round, msg.sender, amount);
    }

    /// @dev A binary CIDv1 starts with the version byte 0x01.
    function _checkCid(bytes memory cid) private pure {
        if (cid.length == 0 || cid.length > MAX_CID_LENGTH || cid[0] != 0x01) revert InvalidCid();
    }

    function _checkCidCalldata(bytes calldata cid) private pure {
        if (cid.length == 0 || cid.length > MAX_CID_LENGTH || cid[0] != 0x01) revert InvalidCid();
    }

    function _checkSlashList(address[] calldata slash) private pure {
        if (slash.length > MAX_SLASH) revert SlashListTooLong(slash.length, MAX_SLASH);
        for (uint256 i = 1; i < slash.length; ++i) {
            if (slash[i] <= slash[i - 1]) revert SlashListUnsorted(i);
        }
    }
}
