// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Merkle} from "../utils/Merkle.sol";
import {FedToken} from "../../src/FedToken.sol";
import {FedCoordinator} from "../../src/FedCoordinator.sol";
import {IFedCoordinator} from "../../src/IFedCoordinator.sol";
import {HandlerBase} from "./HandlerBase.sol";

/// @notice Drives the coordinator with 28 actors (8 honest, 18 sybils, 2 outsiders) through
///         plausible and adversarial sequences: registrations (also in the block of an
///         `advance`), top-ups, unstake and withdraw, commits and votes by anyone (members,
///         accounts registered this round, deactivated ones, outsiders), malformed slash
///         lists, forged claims, sweeps, inactivity reports, pause, staged setters, and a
///         liveness round where 18 sybils commit garbage and the honest 2/3 must finalize.
///         Each action predicts whether the call must succeed and what it must move, and
///         counts every mismatch in `violations`.
contract CoordinatorHandler is HandlerBase {
    uint256 internal constant PARAMS = 13;
    uint256 internal constant COMMITTEE = 12; // setter index of committeeSize

    address public immutable owner;

    constructor(FedCoordinator coord_, FedToken token_, address[] memory actors_)
        HandlerBase(coord_, token_, actors_)
    {
        owner = coord_.owner();
    }

    /// Setup: honest actors register HONEST_STAKE, 14 of the 18 sybils the minimum stake,
    /// and the treasury gets `treasury` tokens.
    function bootstrap(uint256 treasury) external {
        for (uint256 i; i < HONEST + 14; ++i) {
            _register(actors[i], i < HONEST ? HONEST_STAKE : _inForce.minStake);
        }
        vm.prank(actors[0]);
        coord.fundTreasury(treasury);
        ghostIn += treasury;
    }

    /* ------------------------------ staking ------------------------------ */

    /// Registers (or tops up an already registered) actor; outsiders never register.
    function register(uint256 seed, uint256 amount) public {
        address who = actors[bound(seed, 0, HONEST + SYBILS - 1)];
        amount = bound(amount, 50e18, 300e18); // below minStake sometimes: must revert
        (,,,, uint256 activeFrom) = coord.stakeInfo(who);
        if (activeFrom != 0) return _stake(who, amount);
        _register(who, amount);
    }

    function topUp(uint256 seed, uint256 amount) external {
        _stake(actors[bound(seed, 0, HONEST + SYBILS - 1)], bound(amount, 1, 200e18));
    }

    function requestUnstake(uint256 seed, uint256 amount) external {
        address who = _actor(seed);
        (uint256 s,,,,) = coord.stakeInfo(who);
        amount = bound(amount, 0, s + 1); // 0 and more than the stake must revert
        uint256 unlock = block.timestamp + _inForce.unstakeCooldown;
        uint256 round = coord.currentRound();
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        bool votable = info.status == IFedCoordinator.RoundStatus.Open
            || info.status == IFedCoordinator.RoundStatus.Finalized;
        if (votable && info.voteDeadline > unlock) {
            unlock = info.voteDeadline;
        }
        vm.prank(who);
        try coord.requestUnstake(amount) {
            if (unlock > unlockAt[who]) unlockAt[who] = unlock;
        } catch {}
    }

    function withdraw(uint256 seed) external {
        address who = _actor(seed);
        (, uint256 unbonding,,,) = coord.stakeInfo(who);
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        try coord.withdraw() {
            if (block.timestamp < unlockAt[who]) _flag(V.EarlyWithdraw);
            uint256 paid = token.balanceOf(who) - before;
            if (paid != unbonding) _flag(V.WithdrawAmount);
            ghostOut += paid;
            withdrawn[who] += paid;
            ghostWithdrawals += 1;
        } catch {
            if (unbonding != 0 && block.timestamp >= unlockAt[who]) _flag(V.WithdrawRefused);
        }
    }

    function fund(uint256 amount) public {
        amount = bound(amount, 1, 2000e18);
        vm.prank(actors[0]);
        try coord.fundTreasury(amount) {
            ghostIn += amount;
        } catch {}
    }

    /// Anyone reports `who`; must succeed exactly when it missed `inactivityRounds`.
    function reportInactive(uint256 seed, uint256 reporter) external {
        address who = seed % 2 == 0 ? _inactiveFrom(seed >> 1) : _actor(seed >> 1);
        (uint256 s,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
        uint256 missed = _missed(who, active, activeFrom);
        if (coord.missedRounds(who) != missed) _flag(V.MissedRounds);
        bool expect = active && missed >= _inForce.inactivityRounds;
        uint256 held = _held(who);
        uint256 treasury = coord.treasury();
        vm.prank(_actor(reporter));
        try coord.reportInactive(who) {
            if (!expect) _flag(V.ReportNotInactive);
            uint256 leak = held - _held(who);
            (,,, bool stillActive,) = coord.stakeInfo(who);
            if (leak != s * _inForce.inactivityLeakBps / BPS || stillActive) {
                _flag(V.ReportLeak);
            }
            if (coord.treasury() != treasury + leak) _flag(V.ReportLeak);
            leaked[who] += leak;
            ghostReports += 1;
        } catch {
            if (expect) _flag(V.ReportRefused);
        }
    }

    /// The first actor from a random offset that the contract says is reportable (or the
    /// one at the offset): reports are then mostly meant to succeed.
    function _inactiveFrom(uint256 seed) internal view returns (address) {
        uint256 n = actors.length;
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            address a = actors[(start + k) % n];
            if (coord.missedRounds(a) >= _inForce.inactivityRounds) return a;
        }
        return actors[start];
    }

    /* ------------------------------- clock ------------------------------- */

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 400));
    }

    /// A long jump: past claim deadlines and cooldowns.
    function warpFar(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1000, 6000));
    }

    function advance() external {
        _advance();
    }

    /// Registers (or tops up) an actor and advances in the same block: it is eligible for
    /// the round this opens, and the snapshot must count it exactly.
    function registerThenAdvance(uint256 seed, uint256 amount) external {
        register(seed, amount);
        _advance();
    }

    /* ------------------------------- rounds ------------------------------ */

    function commit(uint256 seed) external {
        _commit(_actor(seed), coord.currentRound());
    }

    /// The actors whose bit is set in `mask` try to commit (members or not).
    function commitSome(uint256 mask) external {
        uint256 round = coord.currentRound();
        for (uint256 i; i < actors.length; ++i) {
            if ((mask >> i) & 1 == 1) _commit(actors[i], round);
        }
    }

    /// Every honest actor that can vote submits the agreed outcome of the current round
    /// (the winning one once finalized), warping to the vote window first if needed. Its
    /// slash list (by round) holds committers, members that did not commit, accounts
    /// registered this round and outsiders: only committers may lose anything.
    function honestVotes(uint256 seed) external {
        uint256 round = coord.currentRound();
        if (round == 0) return;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        uint256 opensAt = info.closedAt != 0 ? info.closedAt : info.commitDeadline;
        if (block.timestamp < opensAt) vm.warp(opensAt + seed % 10);
        Ballot memory b =
            roundGhost[round].winKey != bytes16(0) ? _winning[round] : _honestBallot(round);
        for (uint256 i; i < HONEST; ++i) {
            if (_canVote(actors[i], round)) _vote(actors[i], round, b);
        }
    }

    /// Mostly the agreed outcome (after finalization: the winning one, a late vote),
    /// sometimes a dissenting one, sometimes for the previous round (must revert).
    function vote(uint256 seed, uint8 mode) public {
        address who = _actor(seed);
        uint256 round = coord.currentRound();
        if (mode % 8 == 7 && round > 1) round -= 1;
        Ballot memory b = roundGhost[round].winKey != bytes16(0) && mode % 2 == 1
            ? _winning[round]
            : _honestBallot(round);
        if (mode % 4 == 0) b.model = OTHER;
        _vote(who, round, b);
    }

    /// A vote whose slash list is over the cap, unsorted or has a duplicate: must revert.
    function voteMalformed(uint256 seed, uint256 mode) external {
        uint256 round = coord.currentRound();
        Ballot memory b = _honestBallot(round);
        b.slash = _malformed(mode);
        _vote(_actor(seed), round, b);
    }

    /// The finalizing vote and `advance()` in one block: the grace must hold the round.
    function voteThenAdvance(uint256 seed) external {
        vote(seed, 1);
        _advance();
    }

    /* ------------------------------ rewards ------------------------------ */

    struct Claim {
        address who;
        uint256 round;
        uint256 amount;
        bool valid; // must succeed
        bool forged; // must revert
        uint256 deadline;
        uint256 balance;
    }

    /// mode 0-3: own leaf; 4: wrong amount; 5: another leaf's proof; 6: someone else's leaf;
    /// 7: claimMany of this round and another (a duplicate when they are equal).
    function claim(uint256 seed, uint256 roundSeed, uint256 mode) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        uint256 round = _recentRound(roundSeed, current);
        uint256 index = bound(seed, 0, actors.length - 1);
        mode = mode % 8;
        if (mode == 7) return _claimMany(index, round, bound(roundSeed >> 128, 1, current));
        Claim memory c;
        c.who = actors[index];
        c.round = round;
        bytes32[] memory proof;
        (c.valid, c.amount, proof) = _leaf(index, round);
        if (mode == 4) c.amount += 1;
        if (mode >= 5) {
            uint256 other = (index + 1 + seed % (actors.length - 1)) % actors.length;
            (, uint256 otherAmount, bytes32[] memory otherProof) = _leaf(other, round);
            proof = otherProof;
            if (mode == 6) c.amount = otherAmount;
        }
        c.forged = mode >= 4;
        c.valid = c.valid && !c.forged;
        c.deadline = _claimDeadline(round);
        c.balance = token.balanceOf(c.who);
        vm.prank(c.who);
        try coord.claim(round, c.amount, proof) {
            _claimed(c);
        } catch {
            if (c.valid) _flag(V.ClaimRefused);
        }
    }

    function claimVoter(uint256 seed, uint256 roundSeed) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        uint256 round = _recentRound(roundSeed, current);
        // Mostly honest actors (they vote in every liveness round), sometimes anyone.
        address who = seed % 4 == 0 ? _actor(seed >> 2) : actors[(seed >> 2) % HONEST];
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        RoundGhost storage g = roundGhost[round];
        bool winner = g.winKey != bytes16(0) && voteKey[round][who] == g.winKey;
        bool unlocked = block.timestamp >= info.voteDeadline || round < current;
        bool inPeriod = block.timestamp < _claimDeadline(round);
        bool expect = winner && unlocked && inPeriod && voterClaims[round][who] == 0;
        uint256 w = keyWeight[round][g.winKey];
        if (winner && w != info.winningWeight) _flag(V.VoteWeight);
        uint256 share = winner ? info.voterPool * voteWeight[round][who] / w : 0;
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        try coord.claimVoterReward(round) {
            if (!winner || !unlocked || voterClaims[round][who] != 0) {
                _flag(V.VoterClaimUnearned);
            }
            if (!inPeriod) _flag(V.LateClaim);
            uint256 paid = token.balanceOf(who) - before;
            if (paid != share) _flag(V.VoterClaimAmount);
            ghostOut += paid;
            ghostVoterClaims += 1;
            voterClaims[round][who] += 1;
        } catch {
            if (expect) _flag(V.VoterClaimRefused);
        }
    }

    /// Anyone sweeps a round: must succeed exactly for a finalized round past its claim
    /// deadline with something left, and leave nothing in it.
    function sweep(uint256 roundSeed) external {
        uint256 current = coord.currentRound();
        if (current == 0) return;
        uint256 round = _recentRound(roundSeed, current);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        uint256 left =
            info.contributorPool - info.contributorClaimed + info.voterPool - info.voterClaimed;
        bool due = info.status == IFedCoordinator.RoundStatus.Finalized
            && block.timestamp >= _claimDeadline(round);
        uint256 treasury = coord.treasury();
        try coord.sweep(round) {
            if (!due || left == 0) _flag(V.SweepEarly);
            info = coord.roundInfo(round);
            if (
                coord.treasury() != treasury + left
                    || info.contributorClaimed != info.contributorPool
                    || info.voterClaimed != info.voterPool
            ) _flag(V.SweepAmount);
            roundGhost[round].swept = true;
            ghostSweeps += 1;
        } catch {
            if (due && left != 0) _flag(V.SweepRefused);
        }
    }

    /* ------------------------------- owner ------------------------------- */

    function togglePause() external {
        bool paused = coord.paused();
        vm.prank(owner);
        if (paused) coord.unpause();
        else coord.pause();
    }

    /// A staged setter, in a range that keeps rounds going, or (wild) out of its bounds.
    function setParam(uint256 which, uint256 value) external {
        bool wild = (which / PARAMS) % 6 == 0;
        which = which % PARAMS;
        (uint256 lo, uint256 hi, uint256 min, uint256 max) = _paramRange(which);
        uint256 v = wild
            ? (min != 0 && value % 2 == 0 ? min - 1 : max + 1 + value % 1000)
            : bound(value, lo, hi);
        bool inBounds = v >= min && v <= max;
        bool ok = _callSetter(which, v);
        if (ok != inBounds) _flag(V.SetterBounds);
        if (ok) _stage(which, v);
        _checkParams();
    }

    /// Stages a committee size from 0 (everyone) to above the active count (everyone too).
    function setCommittee(uint256 k) external {
        k = bound(k, 0, 14);
        if (!_callSetter(COMMITTEE, k)) _flag(V.SetterBounds);
        else _stage(COMMITTEE, k);
        _checkParams();
    }

    /* ------------------------------ liveness ----------------------------- */

    /// Sybils and honest actors come back (register / top up), a fresh round opens, every
    /// member commits (18 sybils: more invalid committers than MAX_SLASH), then the honest
    /// actors vote the agreed outcome with the slash list capped at 16. When they hold 2/3
    /// of the snapshot the round must end Finalized with that outcome.
    function livenessRound(uint256 seed) external {
        _revive();
        uint256 round = _freshRound();
        if (round == 0) {
            ghostLivenessSkipped += 1;
            return;
        }
        uint256 invalid;
        for (uint256 i; i < actors.length; ++i) {
            address a = actors[i];
            if (member[round][a] && !committed[round][a]) _commit(a, round);
            if (i >= HONEST && committed[round][a]) invalid += 1;
        }
        if (invalid > ghostMaxInvalidCommitters) ghostMaxInvalidCommitters = invalid;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        uint256 opensAt = info.closedAt != 0 ? info.closedAt : info.commitDeadline;
        if (block.timestamp < opensAt) vm.warp(opensAt + seed % 5);

        Ballot memory b = Ballot(MODEL, _root(round), _capped(round, _sybilCommitters(round)));
        uint256 honest;
        for (uint256 i; i < HONEST; ++i) {
            if (_canVote(actors[i], round)) honest += stakeAtOpen[round][actors[i]];
        }
        if (honest * 3 < roundGhost[round].snapshot * 2) {
            ghostLivenessSkipped += 1;
            return;
        }
        for (uint256 i; i < HONEST; ++i) {
            if (_canVote(actors[i], round)) _vote(actors[i], round, b);
        }
        info = coord.roundInfo(round);
        if (info.status != IFedCoordinator.RoundStatus.Finalized || info.outcomeKey != _key(b)) {
            _flag(V.Liveness);
        } else {
            ghostLivenessRuns += 1;
            if (invalid > MAX_SLASH) ghostLivenessOverCap += 1;
        }
    }

    /* ----------------------------- internals ----------------------------- */

    /// One of the last three rounds mostly (claims and sweeps there are live), else any.
    function _recentRound(uint256 seed, uint256 current) internal pure returns (uint256) {
        if (seed % 4 == 0) return bound(seed >> 2, 1, current);
        uint256 back = (seed >> 2) % 3;
        return back < current ? current - back : current;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[bound(seed, 0, actors.length - 1)];
    }

    function _root(uint256 round) internal view returns (bytes32 root) {
        (root,) = rewardTree(round);
    }

    function _register(address who, uint256 amount) internal {
        vm.prank(who);
        try coord.register(amount, PEER, new string[](0)) {
            ghostIn += amount;
            deposited[who] += amount;
        } catch {}
    }

    function _stake(address who, uint256 amount) internal {
        vm.prank(who);
        try coord.stake(amount) {
            ghostIn += amount;
            deposited[who] += amount;
        } catch {}
    }

    /// Unregistered sybils register at the minimum stake, deactivated ones top up to it;
    /// honest actors top up to HONEST_STAKE.
    function _revive() internal {
        uint256 minStake = _inForce.minStake;
        for (uint256 i; i < HONEST + SYBILS; ++i) {
            address a = actors[i];
            (uint256 s,,, bool active, uint256 activeFrom) = coord.stakeInfo(a);
            uint256 target = i < HONEST ? HONEST_STAKE : minStake;
            if (activeFrom == 0) {
                _register(a, target);
            } else if (s < target) {
                _stake(a, target - s);
            } else if (!active) {
                _stake(a, 1);
            }
        }
    }

    /// The current round if it is Open in its commit window, else the next one (expiring
    /// or waiting out the current round and unpausing as needed); 0 if none opens.
    function _freshRound() internal returns (uint256 round) {
        round = coord.currentRound();
        if (round != 0) {
            IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
            if (
                info.status == IFedCoordinator.RoundStatus.Open
                    && block.timestamp < info.commitDeadline && info.closedAt == 0
            ) return round;
            if (block.timestamp < info.voteDeadline) vm.warp(info.voteDeadline);
        }
        if (coord.paused()) {
            vm.prank(owner);
            coord.unpause();
        }
        if (!_advance()) return 0;
        round = coord.currentRound();
        if (coord.roundInfo(round).status != IFedCoordinator.RoundStatus.Open) return 0;
    }

    /// Settled rounds since the later of the last vote and activation that were open to
    /// everyone or drew `who`.
    function _missed(address who, bool active, uint256 activeFrom)
        internal
        view
        returns (uint256 missed)
    {
        if (!active) return 0;
        uint256 since = lastVoted[who];
        if (activeFrom - 1 > since) since = activeFrom - 1;
        uint256 round = coord.currentRound();
        for (uint256 r = since + 1; r < round; ++r) {
            if (!sampled[r] || member[r][who]) missed += 1;
        }
    }

    /* ------------------------------ advance ------------------------------ */

    struct AdvanceCtx {
        uint256 round;
        bool paused;
        bool expired; // Open and past its vote deadline: must be failed
        bool inProgress; // Open before its vote deadline
        bool inGrace; // Finalized, late-vote grace running, not everyone voted
        bool canOpen; // enough active participants for the staged minParticipants
        uint256 pools;
        uint256 treasury;
    }

    function _advance() internal returns (bool ok) {
        AdvanceCtx memory c = _advanceCtx();
        vm.prevrandao(keccak256(abi.encode("randao", c.round, block.timestamp)));
        try coord.advance() {
            ok = true;
        } catch {}
        uint256 after_ = coord.currentRound();
        bool opened = after_ == c.round + 1;
        if (ok) {
            if (c.inProgress) _flag(V.AdvanceEarly);
            if (c.inGrace) _flag(V.AdvanceInGrace);
            if (c.paused && opened) _flag(V.OpenedWhilePaused);
            if (!c.expired && !opened) _flag(V.AdvanceEarly);
            if (c.expired) _checkFailed(c, opened);
            if (!opened && !c.paused && c.canOpen) _flag(V.AdvanceRefused);
            if (opened) _recordOpening(after_, c.treasury + (c.expired ? c.pools : 0));
        } else if (c.expired) {
            _flag(c.paused ? V.PausedExpiryNotFailed : V.AdvanceRefused);
        } else if (!c.paused && !c.inProgress && !c.inGrace && c.canOpen) {
            _flag(V.AdvanceRefused);
        }
        _checkParams();
    }

    function _advanceCtx() internal view returns (AdvanceCtx memory c) {
        c.round = coord.currentRound();
        c.paused = coord.paused();
        c.treasury = coord.treasury();
        c.canOpen = coord.activeCount() >= _pending.minParticipants;
        if (c.round == 0) return c;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(c.round);
        if (info.status == IFedCoordinator.RoundStatus.Open) {
            c.expired = block.timestamp >= info.voteDeadline;
            c.inProgress = !c.expired;
            c.pools = info.contributorPool + info.voterPool;
        } else if (info.status == IFedCoordinator.RoundStatus.Finalized) {
            RoundGhost storage g = roundGhost[c.round];
            uint256 until = uint256(g.finalizedAt) + g.grace;
            if (until > info.voteDeadline) until = info.voteDeadline;
            c.inGrace = block.timestamp < until && info.winningWeight < info.stakeSnapshot;
        }
    }

    function _checkFailed(AdvanceCtx memory c, bool opened) internal {
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(c.round);
        if (
            info.status != IFedCoordinator.RoundStatus.Failed || info.contributorPool != 0
                || info.voterPool != 0
        ) _flag(V.FailRefund);
        if (!opened && coord.treasury() != c.treasury + c.pools) _flag(V.FailRefund);
        ghostFailed += 1;
    }

    /// The staged parameters come into force; snapshot the members and check the round.
    function _recordOpening(uint256 round, uint256 treasuryBefore) internal {
        _inForce = _pending;
        RoundGhost storage g = roundGhost[round];
        g.slashBps = _inForce.slashBps;
        g.grace = _inForce.lateVoteGrace;
        g.claimPeriod = _inForce.claimPeriod;
        (uint256 n, uint256 sum) = _recordMembers(round);
        g.members = uint32(n);
        g.snapshot = sum;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (
            info.status != IFedCoordinator.RoundStatus.Open || info.eligibleCount != n
                || info.stakeSnapshot != sum
        ) _flag(V.SnapshotMismatch);
        if (
            info.openedAt != block.timestamp
                || info.commitDeadline != block.timestamp + _inForce.commitWindow
                || info.voteDeadline != info.commitDeadline + _inForce.voteWindow
                || coord.claimDeadline(round) != info.voteDeadline + _inForce.claimPeriod
        ) _flag(V.RoundClock);
        uint256 reward = _inForce.rewardPerRound;
        uint256 pool = reward < treasuryBefore ? reward : treasuryBefore;
        uint256 voterPool = pool * _inForce.voterShareBps / BPS;
        if (
            info.voterPool != voterPool || info.contributorPool != pool - voterPool
                || coord.treasury() != treasuryBefore - pool
        ) _flag(V.PoolReservation);
    }

    /// Everyone active, or the K members the rule draws from the seed; checks the
    /// contract's seed and `isSelected` for every actor.
    function _recordMembers(uint256 round) internal returns (uint256 n, uint256 sum) {
        uint256 k = _inForce.committeeSize;
        bool drawn = k != 0 && k < coord.activeCount();
        sampled[round] = drawn;
        committeeK[round] = drawn ? k : 0;
        bytes32 seed =
            drawn ? keccak256(abi.encode(block.prevrandao, round, address(coord))) : bytes32(0);
        if (coord.committeeSeed(round) != seed) _flag(V.CommitteeMismatch);
        if (drawn) {
            uint256 count = coord.participantCount();
            uint256[] memory w = new uint256[](count);
            for (uint256 i; i < count; ++i) {
                (uint256 s,,, bool active) = coord.participant(coord.participantAt(i));
                w[i] = active ? s : 0;
            }
            uint256[] memory idx = _replay(seed, w, k);
            for (uint256 i; i < k; ++i) {
                member[round][coord.participantAt(idx[i])] = true;
            }
        }
        for (uint256 i; i < actors.length; ++i) {
            address a = actors[i];
            (uint256 s,,, bool active, uint256 activeFrom) = coord.stakeInfo(a);
            bool selected = coord.isSelected(round, a);
            if (drawn
                    ? selected != member[round][a]
                    : selected != (activeFrom != 0 && activeFrom <= round)) {
                _flag(V.CommitteeMismatch);
            }
            if (!drawn && active && activeFrom <= round) member[round][a] = true;
            if (!member[round][a]) continue;
            if (!active) _flag(V.CommitteeMismatch); // an inactive account was drawn
            stakeAtOpen[round][a] = s;
            n += 1;
            sum += s;
            if (coord.stakeAtOpen(round, a) != s) _flag(V.SnapshotMismatch);
        }
    }

    /// An eligible account outside a drawn committee must be refused with NotSelected.
    function _checkNotSelected(address who, uint256 round, bytes memory reason) internal {
        if (!sampled[round] || member[round][who]) return;
        (,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
        if (!active || activeFrom > round) return;
        bytes memory want = abi.encodeWithSelector(IFedCoordinator.NotSelected.selector, round, who);
        if (keccak256(reason) != keccak256(want)) _flag(V.NotSelectedReason);
    }

    function _checkParams() internal {
        if (
            _paramsHash(coord.params()) != _paramsHash(_inForce)
                || _paramsHash(coord.pendingParams()) != _paramsHash(_pending)
        ) _flag(V.ParamsNotStaged);
    }

    /// The deadline the round opened with; also checks the contract's view against it.
    function _claimDeadline(uint256 round) internal returns (uint256 deadline) {
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (info.status == IFedCoordinator.RoundStatus.None) return 0;
        deadline = uint256(info.voteDeadline) + roundGhost[round].claimPeriod;
        if (coord.claimDeadline(round) != deadline) _flag(V.RoundClock);
    }

    /* ------------------------------- commit ------------------------------ */

    function _commit(address who, uint256 round) internal {
        bool expect = _canCommit(who, round);
        bytes memory cid = abi.encodePacked(hex"01551220", keccak256(abi.encode(who, round)));
        vm.prank(who);
        try coord.commit(round, cid) {
            if (!expect) _flag(V.CommitByIneligible);
            if (!committed[round][who]) {
                committed[round][who] = true;
                roundGhost[round].commits += 1;
            }
        } catch (bytes memory reason) {
            if (expect) _flag(V.CommitRefused);
            if (_inCommitWindow(round)) _checkNotSelected(who, round, reason);
        }
    }

    function _inCommitWindow(uint256 round) internal view returns (bool) {
        if (round == 0) return false;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        return info.status == IFedCoordinator.RoundStatus.Open
            && block.timestamp < info.commitDeadline && info.closedAt == 0;
    }

    function _canCommit(address who, uint256 round) internal view returns (bool) {
        if (round == 0 || !member[round][who] || committed[round][who]) return false;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (
            info.status != IFedCoordinator.RoundStatus.Open
                || block.timestamp >= info.commitDeadline || info.closedAt != 0
        ) return false;
        (,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
        return active && activeFrom <= round;
    }

    /* -------------------------------- vote ------------------------------- */

    struct VoteCtx {
        bool expect;
        bool wellFormed;
        bool wasOpen;
        bytes16 key;
        uint256 treasury;
        uint256 contributorPool;
        uint256[] held;
    }

    function _canVote(address who, uint256 round) internal view returns (bool) {
        if (round == 0 || round != coord.currentRound()) return false;
        if (!member[round][who] || voteKey[round][who] != bytes16(0)) return false;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (
            info.status != IFedCoordinator.RoundStatus.Open
                && info.status != IFedCoordinator.RoundStatus.Finalized
        ) return false;
        uint256 opensAt = info.closedAt != 0 ? info.closedAt : info.commitDeadline;
        if (block.timestamp < opensAt || block.timestamp >= info.voteDeadline) return false;
        (,,, bool active, uint256 activeFrom) = coord.stakeInfo(who);
        return active && activeFrom <= round;
    }

    function _vote(address who, uint256 round, Ballot memory b) internal {
        VoteCtx memory c;
        c.wellFormed = _wellFormed(b.slash);
        c.expect = c.wellFormed && _canVote(who, round);
        c.key = _key(b);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        c.wasOpen = info.status == IFedCoordinator.RoundStatus.Open;
        c.treasury = coord.treasury();
        c.contributorPool = info.contributorPool;
        c.held = new uint256[](b.slash.length);
        for (uint256 i; i < b.slash.length; ++i) {
            c.held[i] = _held(b.slash[i]);
        }
        vm.prank(who);
        try coord.submitOutcome(round, b.model, b.root, b.slash, 5000) {
            if (!c.wellFormed) _flag(V.MalformedSlashList);
            if (!c.expect) _flag(V.VoteByIneligible);
            _recordVote(who, round, c.key);
            if (c.wasOpen) _afterOpenVote(round, b, c);
            else ghostLateVotes += 1;
        } catch (bytes memory reason) {
            if (c.expect) _flag(V.VoteRefused);
            if (c.wellFormed && _inVoteWindow(round)) _checkNotSelected(who, round, reason);
        }
    }

    function _inVoteWindow(uint256 round) internal view returns (bool) {
        if (round == 0 || round != coord.currentRound()) return false;
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        if (
            info.status != IFedCoordinator.RoundStatus.Open
                && info.status != IFedCoordinator.RoundStatus.Finalized
        ) return false;
        uint256 opensAt = info.closedAt != 0 ? info.closedAt : info.commitDeadline;
        return block.timestamp >= opensAt && block.timestamp < info.voteDeadline;
    }

    function _recordVote(address who, uint256 round, bytes16 key) internal {
        (bytes16 k, uint256 w,) = coord.voteOf(round, who);
        if (k != key || w != stakeAtOpen[round][who]) _flag(V.VoteWeight);
        voteKey[round][who] = key;
        voteWeight[round][who] = w;
        keyWeight[round][key] += w;
        RoundGhost storage g = roundGhost[round];
        g.voteWeight += w;
        if (g.voteWeight > g.snapshot) _flag(V.VotesOverSnapshot);
        lastVoted[who] = round;
    }

    function _afterOpenVote(uint256 round, Ballot memory b, VoteCtx memory c) internal {
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        bool quorum = keyWeight[round][c.key] * 3 >= roundGhost[round].snapshot * 2;
        bool finalized = info.status == IFedCoordinator.RoundStatus.Finalized;
        if (quorum != finalized) _flag(V.Quorum);
        if (finalized) _onFinalize(round, b, c, info);
    }

    function _onFinalize(
        uint256 round,
        Ballot memory b,
        VoteCtx memory c,
        IFedCoordinator.RoundInfo memory info
    ) internal {
        RoundGhost storage g = roundGhost[round];
        g.finalizedAt = uint64(block.timestamp);
        g.winKey = c.key;
        _winning[round] = b;
        ghostFinalized += 1;
        if (info.finalizedAt != block.timestamp || info.outcomeKey != c.key) {
            _flag(V.FinalizeRecord);
        }
        uint256 slashedSum;
        for (uint256 i; i < b.slash.length; ++i) {
            address a = b.slash[i];
            uint256 held = _held(a);
            if (held > c.held[i]) {
                _flag(V.SlashAmount);
                continue;
            }
            uint256 lost = c.held[i] - held;
            bool committer = committed[round][a];
            uint256 expected = committer ? stakeAtOpen[round][a] * g.slashBps / BPS : 0;
            if (!committer && lost != 0) _flag(V.SlashNonCommitter);
            else if (lost != expected) _flag(V.SlashAmount);
            if (lost != 0 && ++slashCount[round][a] > 1) _flag(V.SlashTwice);
            slashed[a] += lost;
            slashedSum += lost;
        }
        uint256 refund = b.root == bytes32(0) ? c.contributorPool : 0;
        if (b.root == bytes32(0) && info.contributorPool != info.contributorClaimed) {
            _flag(V.FinalizeTreasury);
        }
        if (coord.treasury() != c.treasury + slashedSum + refund) _flag(V.FinalizeTreasury);
    }

    /* ------------------------------- claims ------------------------------ */

    /// The actor's leaf in `round`'s tree and whether claiming it now must succeed.
    function _leaf(uint256 index, uint256 round)
        internal
        view
        returns (bool valid, uint256 amount, bytes32[] memory proof)
    {
        (bytes32 root, bytes32[] memory leaves) = rewardTree(round);
        amount = rewardOf(index);
        proof = Merkle.proof(leaves, index);
        IFedCoordinator.RoundInfo memory info = coord.roundInfo(round);
        valid = info.status == IFedCoordinator.RoundStatus.Finalized && info.rewardRoot == root
            && !coord.isClaimed(round, actors[index])
            && block.timestamp < uint256(info.voteDeadline) + roundGhost[round].claimPeriod
            && amount <= info.contributorPool - info.contributorClaimed;
    }

    function _claimed(Claim memory c) internal {
        if (block.timestamp >= c.deadline) _flag(V.LateClaim);
        else if (c.forged || !c.valid) _flag(V.ForgedClaim);
        uint256 paid = token.balanceOf(c.who) - c.balance;
        if (paid != c.amount) _flag(V.ClaimAmount);
        ghostOut += paid;
        ghostClaims += 1;
        contributorClaims[c.round][c.who] += 1;
    }

    function _claimMany(uint256 index, uint256 r1, uint256 r2) internal {
        uint256[] memory rounds = new uint256[](2);
        uint256[] memory amounts = new uint256[](2);
        bytes32[][] memory proofs = new bytes32[][](2);
        (rounds[0], rounds[1]) = (r1, r2);
        Claim memory c;
        c.who = actors[index];
        c.round = r1;
        bool valid2;
        (c.valid, amounts[0], proofs[0]) = _leaf(index, r1);
        (valid2, amounts[1], proofs[1]) = _leaf(index, r2);
        c.forged = r1 == r2; // the same leaf twice must revert
        c.valid = c.valid && valid2 && !c.forged;
        c.amount = amounts[0] + amounts[1];
        c.deadline = _claimDeadline(r1);
        if (_claimDeadline(r2) < c.deadline) c.deadline = _claimDeadline(r2);
        c.balance = token.balanceOf(c.who);
        vm.prank(c.who);
        try coord.claimMany(rounds, amounts, proofs) {
            _claimed(c);
            contributorClaims[r2][c.who] += 1;
        } catch {
            // Two valid leaves of different rounds: both must go through.
            if (c.valid) _flag(V.ClaimRefused);
        }
    }

    /* ------------------------------- setters ----------------------------- */

    /// (sane low, sane high, hard min, hard max) of parameter `which`.
    function _paramRange(uint256 which)
        internal
        pure
        returns (uint256 lo, uint256 hi, uint256 min, uint256 max)
    {
        if (which == 0) return (50e18, 150e18, 1, 1e30); // minStake
        if (which == 1) return (10, 900, 10, 30 days); // commitWindow
        if (which == 2) return (10, 600, 10, 30 days); // voteWindow
        if (which == 3) return (0, 2000e18, 0, 1e30); // rewardPerRound
        if (which == 4) return (0, 5000, 0, 5000); // voterShareBps
        if (which == 5) return (0, 5000, 0, 5000); // slashBps
        if (which == 6) return (1, 10, 1, 1000); // minParticipants
        if (which == 7) return (60, 2000, 60, 90 days); // unstakeCooldown
        if (which == 8) return (0, 120, 0, 30 days); // lateVoteGrace
        if (which == 9) return (60, 7200, 60, 365 days); // claimPeriod
        if (which == 10) return (1, 6, 1, 1000); // inactivityRounds
        if (which == 11) return (0, 1000, 0, 1000); // inactivityLeakBps
        return (0, 14, 0, 128); // committeeSize
    }

    function _callSetter(uint256 which, uint256 v) internal returns (bool) {
        FedCoordinator c = coord;
        vm.startPrank(owner);
        bytes memory data;
        if (which == 0) data = abi.encodeCall(c.setMinStake, (v));
        else if (which == 1) data = abi.encodeCall(c.setCommitWindow, (uint64(v)));
        else if (which == 2) data = abi.encodeCall(c.setVoteWindow, (uint64(v)));
        else if (which == 3) data = abi.encodeCall(c.setRewardPerRound, (v));
        else if (which == 4) data = abi.encodeCall(c.setVoterShareBps, (uint16(v)));
        else if (which == 5) data = abi.encodeCall(c.setSlashBps, (uint16(v)));
        else if (which == 6) data = abi.encodeCall(c.setMinParticipants, (uint32(v)));
        else if (which == 7) data = abi.encodeCall(c.setUnstakeCooldown, (uint64(v)));
        else if (which == 8) data = abi.encodeCall(c.setLateVoteGrace, (uint64(v)));
        else if (which == 9) data = abi.encodeCall(c.setClaimPeriod, (uint64(v)));
        else if (which == 10) data = abi.encodeCall(c.setInactivityRounds, (uint32(v)));
        else if (which == 11) data = abi.encodeCall(c.setInactivityLeakBps, (uint16(v)));
        else data = abi.encodeCall(c.setCommitteeSize, (v));
        (bool ok,) = address(c).call(data);
        vm.stopPrank();
        return ok;
    }

    function _stage(uint256 which, uint256 v) internal {
        IFedCoordinator.Params storage p = _pending;
        if (which == 0) p.minStake = v;
        else if (which == 1) p.commitWindow = uint64(v);
        else if (which == 2) p.voteWindow = uint64(v);
        else if (which == 3) p.rewardPerRound = v;
        else if (which == 4) p.voterShareBps = uint16(v);
        else if (which == 5) p.slashBps = uint16(v);
        else if (which == 6) p.minParticipants = uint32(v);
        else if (which == 7) p.unstakeCooldown = uint64(v);
        else if (which == 8) p.lateVoteGrace = uint64(v);
        else if (which == 9) p.claimPeriod = uint64(v);
        else if (which == 10) p.inactivityRounds = uint32(v);
        else if (which == 11) p.inactivityLeakBps = uint16(v);
        else p.committeeSize = uint32(v);
    }
}
