// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../utils/Test.sol";
import {Merkle} from "../utils/Merkle.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";

/// @notice Ghost state of the invariant handler (Solmate-style ghost variables) and the
///         pure helpers it builds outcomes from. Every property the handler checks while it
///         acts is counted in `violations` under a name; the invariant test requires all
///         counts to stay 0.
abstract contract HandlerBase is Test {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_SLASH = 16;
    /// Actors 0..7 are honest (large stakes, vote the agreed outcome), 8..25 are sybils at
    /// about the minimum stake (commit garbage, never vote in liveness rounds), 26..27 never
    /// register (outsiders).
    uint256 public constant HONEST = 8;
    uint256 public constant SYBILS = 18;
    uint256 public constant OUTSIDERS = 2;
    uint256 public constant HONEST_STAKE = 1000e18;

    bytes internal constant MODEL =
        hex"01551220bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    bytes internal constant OTHER =
        hex"01551220cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    bytes internal constant PEER = hex"00240801122011";

    /// Properties checked by the handler as it acts (index into `violations`).
    enum V {
        SnapshotMismatch, // eligibleCount / stakeSnapshot / stakeAtOpen at opening vs members
        RoundClock, // deadlines at opening, claimDeadline vs the claim period it opened with
        PoolReservation, // pools reserved at opening vs min(rewardPerRound, treasury)
        ParamsNotStaged, // params() changed outside an opening / pending not applied
        SetterBounds, // a setter accepted a value out of bounds or refused one inside
        CommitByIneligible, // commit accepted from a non-member, inactive, late or twice
        CommitRefused, // an eligible member's commit in the window reverted
        VoteByIneligible, // vote accepted from a non-member / outside the window / twice
        VoteRefused, // an eligible member's well-formed vote in the window reverted
        VoteWeight, // vote weight != stake at opening (or W != sum of winning weights)
        VotesOverSnapshot, // total vote weight of a round above its snapshot
        MalformedSlashList, // over-cap / unsorted / duplicate slash list accepted
        Quorum, // 2/3 reached without finalizing, or finalized below 2/3
        FinalizeRecord, // finalizedAt / outcomeKey not what the finalizing vote set
        SlashNonCommitter, // a listed account that did not commit lost tokens
        SlashAmount, // a committer lost != floor(stakeAtOpen * slashBps(round) / BPS)
        SlashTwice, // slashed twice in one round
        FinalizeTreasury, // treasury delta != slashes + root-0 refund, root-0 pool kept
        FailRefund, // a failed round kept its pools
        ForgedClaim, // forged proof / wrong amount / someone else's leaf / twice paid
        ClaimRefused, // a valid contributor claim within the claim period reverted
        ClaimAmount, // a contributor claim paid another amount than its leaf
        LateClaim, // a claim paid at or after the claim deadline
        VoterClaimUnearned, // voter share paid to a non-winner or before it unlocked
        VoterClaimRefused, // a winning vote's share within the claim period reverted
        VoterClaimAmount, // voter share != floor(voterPool * w / W)
        SweepEarly, // sweep accepted before the claim deadline or with nothing left
        SweepRefused, // sweep of a finalized round past its deadline with value left reverted
        SweepAmount, // sweep moved another amount than pools - claimed, or left something
        AdvanceInGrace, // next round opened during the late-vote grace
        OpenedWhilePaused, // a round opened while paused
        PausedExpiryNotFailed, // advance() while paused did not fail an expired round
        AdvanceEarly, // advance() succeeded while the round was still in progress
        AdvanceRefused, // advance() reverted although it had something to do
        EarlyWithdraw, // withdraw before cooldown / the vote deadline of the open round
        WithdrawRefused, // unlocked unbonding tokens could not be withdrawn
        WithdrawAmount, // withdraw paid another amount than the unbonding tokens
        ReportNotInactive, // reportInactive accepted for an account below the threshold
        ReportRefused, // reportInactive reverted for an account at the threshold
        ReportLeak, // the leak != floor(stake * leakBps / BPS), or still active afterwards
        MissedRounds, // missedRounds() != the ghost count
        Liveness, // an honest 2/3 quorum voted one outcome and the round did not finalize
        CommitteeMismatch, // drawn members / seed / isSelected differ from the replayed rule
        NotSelectedReason, // an eligible non-member's commit or vote did not revert NotSelected
        Count
    }

    FedCoordinator public immutable coord;
    FedToken public immutable token;
    address[] public actors;
    /// The actors sorted by address (over-cap slash lists are built from it).
    address[] internal _sortedActors;

    uint256[] public violations;
    uint256 public violationTotal;
    string[] public violationNames;

    /* --------------------------- ghost variables --------------------------- */

    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public ghostFinalized;
    uint256 public ghostFailed;
    uint256 public ghostSweeps;
    uint256 public ghostReports;
    uint256 public ghostWithdrawals;
    uint256 public ghostLateVotes;
    uint256 public ghostClaims;
    uint256 public ghostVoterClaims;
    uint256 public ghostLivenessRuns;
    uint256 public ghostLivenessSkipped;
    /// Liveness rounds that finalized with more than MAX_SLASH invalid committers.
    uint256 public ghostLivenessOverCap;
    uint256 public ghostMaxInvalidCommitters;

    IFedCoordinator.Params internal _pending;
    IFedCoordinator.Params internal _inForce;

    struct RoundGhost {
        uint16 slashBps; // in force when the round opened
        uint64 grace;
        uint64 claimPeriod;
        uint64 finalizedAt; // when the handler saw the finalizing vote
        uint32 members;
        uint32 commits;
        bool swept;
        bytes16 winKey;
        uint256 snapshot; // sum of members' stakes at opening
        uint256 voteWeight; // sum of accepted votes' weights
    }

    mapping(uint256 round => RoundGhost) public roundGhost;
    /// Whether the round was opened with a drawn committee, and its size K.
    mapping(uint256 round => bool) public sampled;
    mapping(uint256 round => uint256) public committeeK;
    mapping(uint256 round => mapping(address => bool)) public member;
    mapping(uint256 round => mapping(address => uint256)) public stakeAtOpen;
    mapping(uint256 round => mapping(address => bool)) public committed;
    mapping(uint256 round => mapping(address => bytes16)) public voteKey;
    mapping(uint256 round => mapping(address => uint256)) public voteWeight;
    mapping(uint256 round => mapping(bytes16 key => uint256)) public keyWeight;
    mapping(uint256 round => mapping(address => uint256)) public slashCount;
    mapping(uint256 round => mapping(address => uint256)) public contributorClaims;
    mapping(uint256 round => mapping(address => uint256)) public voterClaims;

    /// The outcome each round finalized with (late voters submit it too).
    mapping(uint256 round => Ballot) internal _winning;

    mapping(address => uint256) public lastVoted;
    mapping(address => uint256) public unlockAt;
    mapping(address => uint256) public deposited;
    mapping(address => uint256) public withdrawn;
    mapping(address => uint256) public slashed;
    mapping(address => uint256) public leaked;

    struct Ballot {
        bytes model;
        bytes32 root;
        address[] slash;
    }

    constructor(FedCoordinator coord_, FedToken token_, address[] memory actors_) {
        coord = coord_;
        token = token_;
        actors = actors_;
        _sortedActors = _sortAsc(actors_);
        _pending = coord_.params();
        _inForce = _pending;
        violations = new uint256[](uint256(V.Count));
        string[44] memory names = [
            "SnapshotMismatch",
            "RoundClock",
            "PoolReservation",
            "ParamsNotStaged",
            "SetterBounds",
            "CommitByIneligible",
            "CommitRefused",
            "VoteByIneligible",
            "VoteRefused",
            "VoteWeight",
            "VotesOverSnapshot",
            "MalformedSlashList",
            "Quorum",
            "FinalizeRecord",
            "SlashNonCommitter",
            "SlashAmount",
            "SlashTwice",
            "FinalizeTreasury",
            "FailRefund",
            "ForgedClaim",
            "ClaimRefused",
            "ClaimAmount",
            "LateClaim",
            "VoterClaimUnearned",
            "VoterClaimRefused",
            "VoterClaimAmount",
            "SweepEarly",
            "SweepRefused",
            "SweepAmount",
            "AdvanceInGrace",
            "OpenedWhilePaused",
            "PausedExpiryNotFailed",
            "AdvanceEarly",
            "AdvanceRefused",
            "EarlyWithdraw",
            "WithdrawRefused",
            "WithdrawAmount",
            "ReportNotInactive",
            "ReportRefused",
            "ReportLeak",
            "MissedRounds",
            "Liveness",
            "CommitteeMismatch",
            "NotSelectedReason"
        ];
        for (uint256 i; i < names.length; ++i) {
            violationNames.push(names[i]);
        }
    }

    /* ------------------------------- views ------------------------------- */

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function violationCount() external view returns (uint256) {
        return violations.length;
    }

    function inForce() external view returns (IFedCoordinator.Params memory) {
        return _inForce;
    }

    function pending() external view returns (IFedCoordinator.Params memory) {
        return _pending;
    }

    /// Every actor's leaf pays (index + 1) * 2 tokens: the sum (812) is a little above the
    /// default contributor pool (800), so the last claims of a round hit PoolExhausted.
    function rewardOf(uint256 index) public pure returns (uint256) {
        return (index + 1) * 2e18;
    }

    function rewardTree(uint256 round) public view returns (bytes32 root, bytes32[] memory leaves) {
        leaves = new bytes32[](actors.length);
        for (uint256 i; i < actors.length; ++i) {
            leaves[i] = Merkle.leaf(round, actors[i], rewardOf(i));
        }
        root = Merkle.root(leaves);
    }

    /* ------------------------------ helpers ------------------------------ */

    function _flag(V v) internal {
        violations[uint256(v)] += 1;
        violationTotal += 1;
    }

    function _held(address who) internal view returns (uint256) {
        (uint256 s, uint256 unbonding,,,) = coord.stakeInfo(who);
        return s + unbonding;
    }

    function _key(Ballot memory b) internal view returns (bytes16) {
        return bytes16(coord.outcomeIdOf(b.model, b.root, b.slash));
    }

    function _paramsHash(IFedCoordinator.Params memory p) internal pure returns (bytes32) {
        return keccak256(abi.encode(p));
    }

    function _wellFormed(address[] memory slash) internal pure returns (bool) {
        if (slash.length > MAX_SLASH) return false;
        for (uint256 i = 1; i < slash.length; ++i) {
            if (slash[i] <= slash[i - 1]) return false;
        }
        return true;
    }

    /// The agreed outcome of `round` (what honest voters submit): the reward tree, or a zero
    /// root, and a slash list that by round mixes committers, non-committers and non-members.
    function _honestBallot(uint256 round) internal view returns (Ballot memory b) {
        b.model = MODEL;
        (b.root,) = rewardTree(round);
        uint256 variant = round % 4;
        if (variant == 1) {
            b.slash = _capped(round, _sybilCommitters(round));
        } else if (variant == 2) {
            b.root = bytes32(0);
            b.slash = _capped(round, _everyNth(2, 1)); // odd indices: some of every kind
        } else if (variant == 3) {
            b.slash = _capped(round, _everyNth(3, 0));
        } else {
            b.slash = new address[](0);
        }
    }

    function _sybilCommitters(uint256 round) internal view returns (address[] memory out) {
        out = new address[](SYBILS);
        uint256 n;
        for (uint256 i = HONEST; i < HONEST + SYBILS; ++i) {
            if (committed[round][actors[i]]) out[n++] = actors[i];
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    function _everyNth(uint256 step, uint256 offset) internal view returns (address[] memory out) {
        out = new address[](actors.length);
        uint256 n;
        for (uint256 i = offset; i < actors.length; i += step) {
            out[n++] = actors[i];
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    /// The node's cap: keep MAX_SLASH by priority (stake at opening desc, then
    /// keccak256(abi.encode(round, address)) asc), then sort them by address.
    function _capped(uint256 round, address[] memory c) internal view returns (address[] memory) {
        uint256 n = c.length;
        uint256 k = n < MAX_SLASH ? n : MAX_SLASH;
        for (uint256 i; i < k; ++i) {
            uint256 best = i;
            for (uint256 j = i + 1; j < n; ++j) {
                if (_before(round, c[j], c[best])) best = j;
            }
            (c[i], c[best]) = (c[best], c[i]);
        }
        assembly ("memory-safe") {
            mstore(c, k)
        }
        return _sortAsc(c);
    }

    function _before(uint256 round, address a, address b) internal view returns (bool) {
        uint256 sa = stakeAtOpen[round][a];
        uint256 sb = stakeAtOpen[round][b];
        if (sa != sb) return sa > sb;
        return keccak256(abi.encode(round, a)) < keccak256(abi.encode(round, b));
    }

    /// The committee rule, literally (O(n * K)): registry indices in draw order, for the
    /// weights (active stake, else 0) in registry order.
    function _replay(bytes32 seed, uint256[] memory w, uint256 k)
        internal
        pure
        returns (uint256[] memory drawn)
    {
        uint256 remaining = 0;
        for (uint256 j; j < w.length; ++j) {
            remaining += w[j];
        }
        drawn = new uint256[](k);
        for (uint256 i; i < k; ++i) {
            uint256 x = uint256(keccak256(abi.encode(seed, i))) % remaining;
            uint256 acc = 0;
            for (uint256 j; j < w.length; ++j) {
                acc += w[j];
                if (acc > x) {
                    drawn[i] = j;
                    remaining -= w[j];
                    w[j] = 0;
                    break;
                }
            }
        }
    }

    function _sortAsc(address[] memory a) internal pure returns (address[] memory) {
        for (uint256 i = 1; i < a.length; ++i) {
            address x = a[i];
            uint256 j = i;
            while (j > 0 && a[j - 1] > x) {
                a[j] = a[j - 1];
                --j;
            }
            a[j] = x;
        }
        return a;
    }

    /// Malformed slash lists the contract must refuse: over the cap (17..20, sorted),
    /// unsorted, or with a duplicate.
    function _malformed(uint256 mode) internal view returns (address[] memory s) {
        uint256 kind = mode % 3;
        if (kind == 0) {
            s = new address[](MAX_SLASH + 1 + (mode / 3) % 4);
            for (uint256 i; i < s.length; ++i) {
                s[i] = _sortedActors[i];
            }
        } else {
            s = new address[](2);
            s[0] = _sortedActors[1 + mode % (actors.length - 1)];
            s[1] = kind == 1 ? _sortedActors[0] : s[0];
        }
    }
}
