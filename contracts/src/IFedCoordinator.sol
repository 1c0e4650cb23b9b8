// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IFedCoordinator
/// @notice Types, errors and events of the fedchain round coordinator.
interface IFedCoordinator {
    /* ------------------------------------------------------------------ */
    /*                                TYPES                               */
    /* ------------------------------------------------------------------ */

    /// @notice Deployment parameters.
    /// @param minStake Smallest stake that registers (and keeps) a participant active.
    /// @param commitWindow Seconds from a round's opening to its commit deadline.
    /// @param voteWindow Seconds from the commit window's close to the vote deadline.
    /// @param rewardPerRound Tokens moved from the treasury into each finalized round's pool.
    /// @param voterShareBps Share of a round's pool paid to voters on the winning outcome.
    /// @param slashBps Share of a slashed participant's stake moved to the treasury.
    /// @param minParticipants Active participants needed before the first round opens.
    /// @param unstakeCooldown Seconds between `requestUnstake` and the earliest `withdraw`.
    /// @param lateVoteGrace Seconds a finalized round stays current after finalization so late
    ///        winning voters still count (`advance` reverts `GraceActive` before; no grace once
    ///        all of the snapshot voted for the outcome, none past the vote deadline).
    /// @param claimPeriod Seconds after a round's vote deadline during which its contributor and
    ///        voter rewards can be claimed; then `sweep` returns what is left to the treasury.
    /// @param inactivityRounds Consecutive settled rounds an eligible participant may miss voting
    ///        in before anyone may `reportInactive` it.
    /// @param inactivityLeakBps Share of an inactive participant's stake moved to the treasury
    ///        when it is reported (it is also deactivated until it stakes again).
    /// @param committeeSize K: participants drawn per round, stake-weighted without replacement
    ///        from randomness fixed at the round's opening; only they commit and vote, and the
    ///        quorum is 2/3 of their stake. 0, or K at least the active count: everyone active.
    /// @param targetMetricBps Stop rule: the deployment finishes when a round finalizes with an
    ///        agreed metric (basis points) at least this. 0: off.
    /// @param patience Stop rule: the deployment finishes when this many finalized rounds in a
    ///        row did not improve on the best agreed metric. 0: off.
    /// @param maxRounds Stop rule: the deployment finishes with its `maxRounds`-th finalized
    ///        round. 0: off.
    struct Params {
        uint256 minStake;
        uint64 commitWindow;
        uint64 voteWindow;
        uint256 rewardPerRound;
        uint16 voterShareBps;
        uint16 slashBps;
        uint32 minParticipants;
        uint64 unstakeCooldown;
        uint64 lateVoteGrace;
        uint64 claimPeriod;
        uint32 inactivityRounds;
        uint16 inactivityLeakBps;
        uint32 committeeSize;
        uint16 targetMetricBps;
        uint32 patience;
        uint32 maxRounds;
    }

    /// @notice Lifecycle of a round. `None` is a round that was never opened.
    enum RoundStatus {
        None,
        Open,
        Finalized,
        Failed
    }

    /// @notice Why a deployment finished (`None` while it runs).
    enum StopReason {
        None,
        TargetReached,
        NoImprovement,
        MaxRounds
    }

    /// @notice Everything recorded about one round.
    /// @dev `closedAt` is 0 unless every eligible participant committed before the commit
    ///      deadline, in which case the commit window closed then and the vote deadline moved
    ///      forward by the same amount. The vote window runs from `closedAt` (or the commit
    ///      deadline) to `voteDeadline`. The pools are reserved from the treasury when the
    ///      round opens and go back to it if the round fails. `outcomeKey` is the first 16
    ///      bytes of the winning outcome id (the full id is in the `Finalized` event).
    struct RoundInfo {
        RoundStatus status;
        uint64 openedAt;
        uint64 commitDeadline;
        uint64 closedAt;
        uint64 voteDeadline;
        uint32 eligibleCount;
        uint32 commitCount;
        uint256 stakeSnapshot;
        bytes32 rewardRoot;
        uint256 contributorPool;
        uint256 voterPool;
        bytes16 outcomeKey;
        uint256 winningWeight;
        uint256 contributorClaimed;
        uint256 voterClaimed;
        uint64 finalizedAt;
    }

    /* ------------------------------------------------------------------ */
    /*                                ERRORS                              */
    /* ------------------------------------------------------------------ */

    error InvalidParam(string name);
    error AmountZero();
    error StakeTooLow(uint256 amount, uint256 minStake);
    error AlreadyRegistered(address account);
    error NotRegistered(address account);
    error InvalidPeerId();
    error TooManyAddrs(uint256 count, uint256 max);
    error AddrTooLong(uint256 index, uint256 length, uint256 max);
    error InvalidCid();
    error NotEnoughParticipants(uint256 active, uint256 required);
    error RoundInProgress(uint256 round, uint256 voteDeadline);
    error RoundNotOpen(uint256 round);
    error NotCurrentRound(uint256 round, uint256 current);
    error CommitWindowClosed(uint256 round);
    error NotEligible(uint256 round, address account);
    error AlreadyCommitted(uint256 round, address account);
    error VoteWindowNotOpen(uint256 round, uint256 opensAt);
    error VoteWindowClosed(uint256 round);
    error AlreadyVoted(uint256 round, address account);
    error SlashListTooLong(uint256 length, uint256 max);
    error SlashListUnsorted(uint256 index);
    error RoundNotFinalized(uint256 round);
    error AlreadyClaimed(uint256 round, address account);
    error InvalidProof(uint256 round, address account, uint256 amount);
    error PoolExhausted(uint256 round, uint256 amount, uint256 available);
    error BatchTooLarge(uint256 length, uint256 max);
    error LengthMismatch();
    error VoterRewardLocked(uint256 round, uint256 unlocksAt);
    error NotWinningVoter(uint256 round, address account);
    error InsufficientStake(uint256 amount, uint256 stake);
    error NothingToWithdraw(address account);
    error CooldownActive(address account, uint256 unlockAt);
    error ParamOutOfRange(string name, uint256 value, uint256 min, uint256 max);
    error RenounceDisabled();
    error GraceActive(uint256 round, uint256 until);
    error ClaimPeriodOver(uint256 round, uint256 endedAt);
    error ClaimPeriodActive(uint256 round, uint256 endsAt);
    error NothingToSweep(uint256 round);
    error NotInactive(address account, uint256 missed, uint256 required);
    error NotSelected(uint256 round, address account);
    error InvalidMetric(uint256 metricBps);
    error DeploymentOver(uint256 finishedRound);

    /* ------------------------------------------------------------------ */
    /*                                EVENTS                              */
    /* ------------------------------------------------------------------ */

    event Registered(address indexed account, uint256 stake, bytes peerId, string[] addrs);
    event PeerUpdated(address indexed account, bytes peerId, string[] addrs);
    event Staked(address indexed account, uint256 amount, uint256 newStake);
    event Activated(address indexed account, uint256 fromRound);
    event Deactivated(address indexed account);
    event TreasuryFunded(address indexed from, uint256 amount);
    event RoundOpened(
        uint256 indexed round,
        uint64 commitDeadline,
        uint64 voteDeadline,
        uint32 eligibleCount,
        uint256 stakeSnapshot,
        uint256 contributorPool,
        uint256 voterPool
    );
    /// @notice Round `round` was opened with a sampled committee (not emitted when everyone
    ///         active takes part): `members` in draw order, drawn from `seed`.
    event CommitteeSelected(uint256 indexed round, bytes32 seed, address[] members);
    event Committed(uint256 indexed round, address indexed author, bytes cid);
    event CommitClosed(uint256 indexed round, uint64 closedAt, uint64 voteDeadline);
    /// @notice `metricBps`: the voter's evaluation of the outcome's model on its own validation
    ///         data, in basis points.
    event OutcomeSubmitted(
        uint256 indexed round,
        address indexed voter,
        bytes32 indexed outcomeId,
        uint256 weight,
        uint16 metricBps
    );
    event Finalized(
        uint256 indexed round,
        bytes modelCid,
        bytes32 rewardRoot,
        bytes32 outcomeId,
        address[] slash,
        uint256 contributorRefund
    );
    event RoundFailed(uint256 indexed round, uint256 refund);
    /// @notice The stop rule fired when `round` finalized: no round opens any more; `modelCid`
    ///         is the final model, `metricBps` the round's agreed metric.
    event DeploymentFinished(
        uint256 indexed round, StopReason reason, uint16 metricBps, bytes modelCid
    );
    event Swept(uint256 indexed round, uint256 contributorAmount, uint256 voterAmount);
    event ReportedInactive(
        address indexed account, address indexed reporter, uint256 missed, uint256 leaked
    );
    event ParamsApplied(uint256 indexed round);
    event Slashed(uint256 indexed round, address indexed account, uint256 amount);
    event RewardClaimed(uint256 indexed round, address indexed account, uint256 amount);
    event VoterRewardClaimed(uint256 indexed round, address indexed account, uint256 amount);
    event UnstakeRequested(
        address indexed account, uint256 amount, uint256 newStake, uint256 unbonding, uint64 unlockAt
    );
    event Withdrawn(address indexed account, uint256 amount);
    event ParamUpdated(string name, uint256 oldValue, uint256 newValue);
}
