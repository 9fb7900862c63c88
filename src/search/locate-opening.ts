// Opening sessions for a locate run: what each level still needs (frontier hops nobody idles at,
// its search, checkers), in which order, and at what pace (the connect stagger and the per-minute
// cap — the run's own ConnectPacer, used synchronously like a search's session pool — and the cap
// on sessions open at once). Too many failed connects end the run (RunState.fatal).
import { MIN_SEARCH_SESSIONS, RunState, type Demand, type Level, type Role } from './locate-state.ts';
import { ConnectPacer } from './pacer.ts';
import type { SessionTable } from './locate-sessions.ts';
import type { LocateOpener } from './locate-types.ts';
import { ConnectError } from './types.ts';

/** The path timeout's search measured cold keeps at least this many sessions beside a deeper frontier. */
const COLD_SEARCH_FLOOR = 10;
/** Sessions that probe a prior: just below it, twice just above (locate-hop-search.ts). */
const PRIOR_PROBE_SESSIONS = 3;
/** Connect failures in a row that end the run (also: every connect so far failed). */
const MAX_CONNECT_FAILURES = 8;

export class Opening {
  private readonly pacer: ConnectPacer;
  private connecting = 0;
  private connectFailures = 0;
  private lastOpenedRole: Role | null = null;
  private readonly pendingOpens: Demand[] = [];
  /** Levels whose attribution needs a fresh checker session. */
  private readonly wantChecker = new Set<Level>();
  sessionsOpened = 0;
  maxConcurrent = 0;

  constructor(
    private readonly state: RunState,
    private readonly sessions: SessionTable,
    private readonly opener: LocateOpener,
  ) {
    this.pacer = new ConnectPacer(state.clock, state.opts);
  }

  /** Opens in flight for a level's role (at a hop). */
  pending(level: Level, role: Role, hop?: number): number {
    return this.pendingOpens.filter((p) => p.level === level && p.role === role && (hop === undefined || p.hop === hop)).length;
  }

  /** A fresh checker for the level's attribution (none of its sessions could be one). */
  requestChecker(level: Level): void {
    this.wantChecker.add(level);
  }

  /** Sessions a level's search may have: what the budget leaves beside its frontier (at least a few). */
  searchCap(level: Level): number {
    const { opts } = this.state;
    // Verifying a prior needs its three probes and a few restarts below it; the budget goes to the frontier.
    if (level.index === 0 && opts.pathTimeout && level.search.priorUpper() !== null) {
      return Math.min(opts.maxSessions, level.search.priorSessions()!, opts.maxRoundSessions - level.frontier.length - 1);
    }
    // The path timeout measured cold: a second session per frontier hop when that leaves the search
    // enough (the second one at the boundary is the next search's oldest session).
    if (level.index === 0 && opts.maxRoundSessions - 2 * level.frontier.length - 1 >= COLD_SEARCH_FLOOR) {
      return Math.min(opts.maxSessions, opts.maxRoundSessions - 2 * level.frontier.length - 1);
    }
    const frontier = Math.max(level.frontier.length, this.sessions.countRole(level, 'frontier'));
    return Math.max(MIN_SEARCH_SESSIONS, Math.min(opts.maxSessions, opts.maxRoundSessions - frontier - 1));
  }

  /**
   * What each level still needs opened, most urgent first: frontier hops nobody idles at, the
   * searches (newest level first), checkers.
   */
  private demands(): Demand[] {
    const { levels, opts } = this.state;
    const frontier: Demand[] = [];
    const search: Demand[] = [];
    for (const level of levels) {
      if (level.done || level.boundary !== null || level.search.outcome?.kind === 'no_timeout') continue;
      // One session per hop first (nearest hops first), then the depth.
      for (let d = 0; d < level.depth; d++) {
        for (const fh of level.frontier) {
          if (fh.outcome !== null) continue;
          const have = [...this.sessions.all()].filter((t) => t.level === level && t.role === 'frontier' && t.hop === fh.hop).length + this.pending(level, 'frontier', fh.hop);
          if (have <= d && (d === 0 || level.index === 0)) frontier.push({ level, role: 'frontier', hop: fh.hop, notBeforeMs: 0 });
        }
      }
    }
    for (const level of [...levels].reverse()) {
      if (level.done || level.search.outcome) continue;
      const have = this.sessions.countRole(level, 'search') + this.pending(level, 'search');
      // An advanced level keeps the sessions it has for its refine; new ones would come too young.
      const cap = level.advanced ? (have === 0 ? MIN_SEARCH_SESSIONS : 0) : this.searchCap(level);
      for (let i = have; i < cap; i++) search.push({ level, role: 'search', hop: level.hop, notBeforeMs: 0 });
    }
    const out: Demand[] = [];
    if (levels.length === 1 && opts.pathTimeout) {
      // A prior: the sessions that probe it first, then the frontier (the next search's oldest
      // sessions idle there), then the ladder below the prior.
      out.push(...search.splice(0, Math.max(0, PRIOR_PROBE_SESSIONS - this.sessions.countRole(levels[0], 'search'))), ...frontier, ...search);
    } else if (levels.length === 1) {
      // The path timeout's search: its first probes need sessions as soon as the frontier does,
      // so the two take turns.
      const first = this.lastOpenedRole === 'search' ? [frontier, search] : [search, frontier];
      while (first[0].length > 0 || first[1].length > 0) {
        if (first[0].length > 0) out.push(first[0].shift()!);
        if (first[1].length > 0) out.push(first[1].shift()!);
      }
    } else out.push(...frontier, ...search);
    for (const level of this.wantChecker) {
      this.wantChecker.delete(level);
      if (level.attribution === 'checking') out.push({ level, role: 'checker', hop: level.boundary! - 1, notBeforeMs: 0 });
    }
    return out;
  }

  /** Opens what is wanted, within the stagger, the per-minute cap and the session budget. Returns the next time to look. */
  decideOpens(): number {
    const { state } = this;
    const now = state.clock.now();
    if (state.ended) return Infinity;
    let wake = Infinity;
    for (const want of this.demands()) {
      if (this.sessions.size + this.connecting >= state.opts.maxRoundSessions) break;
      if (want.notBeforeMs > now) {
        wake = Math.min(wake, want.notBeforeMs);
        continue;
      }
      const slot = this.pacer.nextSlotAt(now);
      if (slot > now) {
        wake = Math.min(wake, slot);
        break;
      }
      this.openFor(want, now);
      wake = Math.min(wake, this.pacer.nextSlotAt(now));
    }
    return wake;
  }

  private openFor(want: Demand, now: number): void {
    const { state } = this;
    this.lastOpenedRole = want.role;
    this.pacer.take(now);
    this.connecting++;
    this.sessionsOpened++;
    this.pendingOpens.push(want);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.sessions.size + this.connecting);
    this.opener.open(state.abort.signal).then(
      (session) => {
        this.connecting--;
        this.pendingOpens.splice(this.pendingOpens.indexOf(want), 1);
        this.connectFailures = 0;
        if (state.ended) return session.close();
        this.sessions.add(session, want.level, want.role, want.hop);
        state.wakeup.notify();
      },
      (err: unknown) => {
        this.connecting--;
        this.pendingOpens.splice(this.pendingOpens.indexOf(want), 1);
        if (state.opts.signal?.aborted || state.ended) return;
        this.connectFailures++;
        if (this.sessionsOpened === this.connectFailures || this.connectFailures >= MAX_CONNECT_FAILURES) {
          state.fatal = err instanceof ConnectError ? err : new ConnectError(String(err), 'unreachable');
        }
        state.wakeup.notify();
      },
    );
  }
}
