// A sentinel is one SSH session kept open between measurements that idles at ~90 % of the last
// estimate and then checks it is still alive. While the path's idle timeout stays where it was
// measured, every check passes; if one fails with reset/silent, the timeout shrank below 90 % of the
// estimate — the caller counts it and re-measures at once. A server-side close is not the path's
// fault and is not counted.
// TargetSentinel (below) is the sentinel's life on one target: when one may watch, its session
// budget, its sessions (sentinel.sessions, staggered so that after a change of the path's timeout
// one of them is refreshed — and picks the new timeout up — sooner), what a death proves (its
// siblings, checked at once, bound the new timeout from below) and triggers (a re-measurement, at
// most MAX_SENTINEL_REMEASURES in a row).
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock, Direction, MeasurementResult, ProbeReport, SessionOpener, SearchSession } from '../search/types.ts';
import type { TargetSpec } from '../probe/target.ts';
import type { SessionBudget } from './budget.ts';
import type { TargetConfig } from './config.ts';
import type { Logger } from '../log.ts';

export type SentinelEnd =
  | { kind: 'died'; report: ProbeReport }
  /** `checkNow` fired: the session was checked at once and the loop ended (outbound only). */
  | { kind: 'checked'; report: ProbeReport }
  | { kind: 'ended'; reason: string }
  | { kind: 'aborted' };

export interface SentinelOptions {
  /** Seconds of silence before each liveness check (fraction × estimate). */
  idleSeconds: number;
  /** outbound: idle, then a keepalive with want-reply; inbound: the server speaks after idleSeconds. */
  direction: Direction;
  signal: AbortSignal;
  /** Bound on the number of checks (the loop is otherwise ended by the signal). */
  maxChecks?: number;
  /** Wait this long before opening the session (staggered siblings), ms. */
  startDelayMs?: number;
  /**
   * Outbound: when this aborts during the idle wait, check at once and end with `checked` (a
   * sibling died and this session's age bounds the new timeout). Inbound checks cannot be cut
   * short (the server speaks after the idle time it was given) and ignore it.
   */
  checkNow?: AbortSignal;
}

export interface SentinelDeps {
  opener: SessionOpener;
  clock: Clock;
  /** Called with 1 when the session is open and 0 when it closed (sessions-open gauge). */
  onSessionsOpen: (open: number) => void;
  /** Called after every check that the session survived. */
  onAlive?(report: ProbeReport): void;
}

/** Runs until the session dies, the server ends it, maxChecks pass, or the signal aborts. */
export async function runSentinel(opts: SentinelOptions, deps: SentinelDeps): Promise<SentinelEnd> {
  const idleMs = Math.max(1000, Math.round(opts.idleSeconds * 1000));
  const maxChecks = opts.maxChecks ?? Number.MAX_SAFE_INTEGER;
  let session: SearchSession | null = null;
  try {
    if (opts.startDelayMs) {
      try {
        await idleWait(deps.clock, opts.startDelayMs, opts.signal, opts.checkNow);
      } catch {
        return { kind: 'aborted' };
      }
      if (opts.checkNow?.aborted) return { kind: 'ended', reason: 'a sibling died before this sentinel session opened' };
    }
    try {
      session = await deps.opener.open(opts.signal);
    } catch (err) {
      if (opts.signal.aborted) return { kind: 'aborted' };
      return { kind: 'ended', reason: `could not open the sentinel session: ${(err as Error).message}` };
    }
    deps.onSessionsOpen(1);
    for (let checks = 0; checks < maxChecks; checks++) {
      if (opts.signal.aborted) return { kind: 'aborted' };
      let report: ProbeReport;
      try {
        if (opts.direction === 'inbound') {
          report = await session.probeInbound(opts.idleSeconds);
        } else {
          // Measure the silence on the wire, not since our last call: server traffic restarts it.
          const idleSoFar = deps.clock.now() - session.lastActivityAt();
          const wait = Math.min(idleMs, Math.max(0, idleMs - idleSoFar));
          await idleWait(deps.clock, wait, opts.signal, opts.checkNow);
          report = await session.probeOutbound();
          // Woken, or asked while this check was out: its answer is what the caller wants.
          if (opts.checkNow?.aborted && !opts.signal.aborted) return { kind: 'checked', report };
        }
      } catch (err) {
        if (opts.signal.aborted) return { kind: 'aborted' };
        return { kind: 'ended', reason: `sentinel probe failed: ${(err as Error).message}` };
      }
      if (opts.signal.aborted) return { kind: 'aborted' };
      if (report.outcome === 'alive') {
        deps.onAlive?.(report);
        continue;
      }
      if (report.outcome === 'reset' || report.outcome === 'silent') return { kind: 'died', report };
      return { kind: 'ended', reason: `sentinel ended: ${report.outcome}${report.detail ? ` (${report.detail})` : ''}` };
    }
    return { kind: 'ended', reason: `sentinel made its ${maxChecks} checks` };
  } finally {
    if (session) {
      session.close();
      deps.onSessionsOpen(0);
    }
  }
}

/** Sleeps `ms`, or less if `checkNow` aborts first. Throws if `signal` aborts. */
async function idleWait(clock: Clock, ms: number, signal: AbortSignal, checkNow: AbortSignal | undefined): Promise<void> {
  if (!checkNow) return clock.sleep(ms, signal);
  if (checkNow.aborted) return;
  // Listeners removed after each wait, not AbortSignal.any: the sentinel's own signal lives for
  // thousands of checks and would keep every combined signal made from it.
  const either = new AbortController();
  const onAbort = () => either.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  checkNow.addEventListener('abort', onAbort, { once: true });
  try {
    await clock.sleep(ms, either.signal);
  } catch (err) {
    if (signal.aborted || !checkNow.aborted) throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    checkNow.removeEventListener('abort', onAbort);
  }
}

/** Which direction a sentinel should watch and for how long: the shortest timeout found, at `fraction` of its estimate but never above its proven lower bound. */
export function sentinelPlan(
  results: { direction: Direction; verdict: string; estimateSeconds: number | null; lowerSeconds: number | null }[],
  fraction: number,
  inboundSupported: boolean,
): { direction: Direction; idleSeconds: number } | null {
  let best: { direction: Direction; idle: number } | null = null;
  for (const r of results) {
    if (r.verdict !== 'timeout' || r.estimateSeconds === null) continue;
    if (r.direction === 'inbound' && !inboundSupported) continue;
    // Never idle longer than an age the path was seen to survive: with a short timeout the 1 s
    // precision floor makes the bracket wide, and 0.9 × estimate can lie above the real timeout
    // (bracket (2.9, 3.9] → 3.06 s against a 3 s path), which would be a false "timeout shrank".
    const idle = Math.min(r.estimateSeconds * fraction, r.lowerSeconds ?? Number.POSITIVE_INFINITY);
    if (!best || idle < best.idle) best = { direction: r.direction, idle };
  }
  if (!best) return null;
  return { direction: best.direction, idleSeconds: Math.max(1, best.idle) };
}

/** Makes the session opener a sentinel uses (the prober's connect + auth + host key check). */
export type OpenerFactory = (spec: TargetSpec, opts: { connectTimeoutMs?: number; silentDeadlineFloorMs?: number; connectPacer?: ConnectPacer }) => SessionOpener;

/** Sentinel deaths re-measure at once at most this many times in a row (until a scheduled/API run). */
export const MAX_SENTINEL_REMEASURES = 3;

/** How long a death waits for its siblings' checks before the re-measurement starts, ms (an alive answer takes one round trip). */
export const SIBLING_ANSWER_GRACE_MS = 1000;

/** Bound on the checks a sentinel makes before it is restarted by the next measurement anyway. */
const SENTINEL_MAX_CHECKS = 10_000;

export interface TargetSentinelDeps {
  openerFactory?: OpenerFactory;
  budget: SessionBudget;
  clock: Clock;
  log: Logger;
  /** Something a scrape would show changed. */
  changed(): void;
  /** The target was stopped (a death then re-measures nothing). */
  stopped(): boolean;
  /** A sentinel died: measure again now. */
  remeasure(): void;
}

/**
 * A sentinel's death: the path forgot an idle session in `direction` after `ageSeconds`, at clock
 * time `atMs` — an upper bound on the timeout since. `atLeastSeconds`: the longest age a sibling
 * session refreshed after the dead one's last refresh (so under the new timeout too) was seen
 * alive at, checked right after the death; null when no sibling could tell.
 */
export interface SentinelDeath {
  direction: Direction;
  ageSeconds: number;
  atMs: number;
  atLeastSeconds: number | null;
}

/** One session of a running sentinel. */
interface SentinelMember {
  /** Fires when a sibling died: check this session at once. */
  checkNow: AbortController;
  open: boolean;
  done: Promise<SentinelEnd>;
}

/** A running sentinel: its sessions, staggered by idleSeconds / sessions. */
interface RunningSentinel {
  controller: AbortController;
  done: Promise<void>;
  idleSeconds: number;
  direction: Direction;
  since: number;
  checks: number;
  members: SentinelMember[];
  /** The first death was seen (the others are being checked or stopped). */
  concluded: boolean;
}

/**
 * What a death and the siblings' checks right after it prove. A sibling whose last refresh came
 * after the dead session's (which saw the new timeout: it died younger than the old one) runs
 * under the new timeout too: alive at age a → the timeout is above a; dead → at most a.
 */
export function boundsAfterDeath(death: ProbeReport, siblings: readonly ProbeReport[]): { atMostSeconds: number; atLeastSeconds: number | null } {
  const deadRefreshedAt = death.at - death.ageSeconds * 1000;
  let atMost = death.ageSeconds;
  let atLeast: number | null = null;
  for (const r of siblings) {
    if (r.outcome === 'reset' || r.outcome === 'silent') {
      atMost = Math.min(atMost, r.ageSeconds);
    } else if (r.outcome === 'alive' && r.at - r.ageSeconds * 1000 >= deadRefreshedAt) {
      atLeast = Math.max(atLeast ?? 0, r.ageSeconds);
    }
  }
  // A lower bound at or above the upper one contradicts itself (a flaky path): keep only the upper.
  return { atMostSeconds: atMost, atLeastSeconds: atLeast !== null && atLeast < atMost ? atLeast : null };
}

/** The one sentinel of one target, between its jobs (the runner says when: see TargetRunner). */
export class TargetSentinel {
  private current: RunningSentinel | null = null;
  /** Sentinel sessions open now (closing ones of an ended sentinel included). */
  private open = 0;
  private deaths = 0;
  private latestDeath: SentinelDeath | null = null;
  /** Consecutive measurements started by sentinel deaths; reset by a scheduled or API run. */
  private streak = 0;
  private paused = false;

  constructor(
    private readonly name: () => string,
    private readonly deps: TargetSentinelDeps,
  ) {}

  /** A measurement not started by a sentinel death: deaths may re-measure again. */
  resetStreak(): void {
    this.streak = 0;
    this.paused = false;
  }

  /** Starts watching the path of the latest measurement, if the config wants it and budget allows. */
  maybeStart(cfg: TargetConfig, result: MeasurementResult | null | undefined): void {
    const { deps } = this;
    if (this.current || this.paused || !cfg.settings.sentinel.enabled || !deps.openerFactory || !result) return;
    let opener: SessionOpener;
    try {
      opener = deps.openerFactory(cfg.spec, {
        connectTimeoutMs: cfg.settings.connectTimeoutMs,
        silentDeadlineFloorMs: cfg.settings.silentDeadlineFloorMs,
        // The sentinel's connects wait for the daemon's pacer like every other run's.
        connectPacer: deps.budget.connectPacer,
      });
    } catch (err) {
      // e.g. the key file became unreadable since the config was checked: no sentinel, no crash.
      deps.log.warn(`target ${this.name()}: cannot start a sentinel: ${(err as Error).message}`);
      return;
    }
    const plan = sentinelPlan(result.results, cfg.settings.sentinel.fraction, opener.inboundSupported && cfg.spec.inbound !== null);
    if (!plan) return;
    const wanted = cfg.settings.sentinel.sessions;
    // All the sessions asked for, or one when the budget is short (the shrink is then seen later).
    let lease = deps.budget.tryAcquire(wanted);
    let count = wanted;
    if (!lease && wanted > 1) {
      lease = deps.budget.tryAcquire(1);
      count = 1;
      if (lease) deps.log.warn(`target ${this.name()}: session budget too short for ${wanted} sentinel sessions; watching with one`);
    }
    if (!lease) {
      deps.log.warn(`target ${this.name()}: no session budget left for a sentinel`);
      return;
    }
    const heldLease = lease;
    const controller = new AbortController();
    const sentinel: RunningSentinel = { controller, idleSeconds: plan.idleSeconds, direction: plan.direction, since: deps.clock.now(), checks: 0, done: Promise.resolve(), members: [], concluded: false };
    this.current = sentinel;
    for (let i = 0; i < count; i++) {
      const member: SentinelMember = { checkNow: new AbortController(), open: false, done: Promise.resolve<SentinelEnd>({ kind: 'aborted' }) };
      member.done = runSentinel(
        {
          idleSeconds: plan.idleSeconds,
          direction: plan.direction,
          signal: controller.signal,
          maxChecks: SENTINEL_MAX_CHECKS,
          // Session i refreshes i/count of a period after the first: after a change, the first
          // refresh that picks up the new timeout comes within idle/count instead of one idle.
          startDelayMs: Math.round((plan.idleSeconds * 1000 * i) / count),
          checkNow: member.checkNow.signal,
        },
        {
          opener,
          clock: deps.clock,
          onSessionsOpen: (n) => {
            if (n > 0 !== member.open) this.open += n > 0 ? 1 : -1;
            member.open = n > 0;
            deps.changed();
          },
          onAlive: () => {
            sentinel.checks++;
          },
        },
      );
      sentinel.members.push(member);
    }
    sentinel.done = Promise.all(sentinel.members.map((m) => this.follow(sentinel, m)))
      .then(() => undefined)
      .catch((err) => deps.log.error(`target ${this.name()}: sentinel crashed: ${(err as Error).message}`))
      .finally(() => heldLease.release());
    deps.changed();
  }

  /** Waits for one session's end; the first death checks the siblings, ends the sentinel and reports. */
  private async follow(sentinel: RunningSentinel, member: SentinelMember): Promise<void> {
    const end = await member.done;
    if (sentinel.concluded) return;
    if (end.kind === 'aborted') return;
    if (end.kind === 'ended' || end.kind === 'checked') {
      // One session ended (the server closed it, or it could not open): the sentinel ends with it.
      if (end.kind === 'ended') this.deps.log.info(`target ${this.name()}: ${end.reason}`);
      sentinel.concluded = true;
      this.end(sentinel);
      return;
    }
    sentinel.concluded = true;
    const siblings = sentinel.members.filter((m) => m !== member);
    const checked: ProbeReport[] = [];
    if (sentinel.direction === 'outbound' && siblings.length > 0 && !sentinel.controller.signal.aborted) {
      for (const s of siblings) s.checkNow.abort();
      // An alive sibling answers within a round trip; a dead one only at its silent deadline, and
      // the re-measurement should not wait for that (a dead sibling's bound is the smaller gain).
      const grace = new AbortController();
      const answers = siblings.map((s) =>
        s.done.then((e) => {
          if (!grace.signal.aborted && (e.kind === 'checked' || e.kind === 'died')) checked.push(e.report);
        }),
      );
      await Promise.race([Promise.all(answers), this.deps.clock.sleep(SIBLING_ANSWER_GRACE_MS, grace.signal).catch(() => undefined)]);
      grace.abort();
    }
    this.end(sentinel);
    this.onDeath(sentinel.direction, end.report, boundsAfterDeath(end.report, checked));
  }

  private end(sentinel: RunningSentinel): void {
    if (this.current === sentinel) this.current = null;
    sentinel.controller.abort(new Error('sentinel ended'));
  }

  private onDeath(direction: Direction, report: ProbeReport, bounds: { atMostSeconds: number; atLeastSeconds: number | null }): void {
    const { deps } = this;
    this.deaths++;
    this.latestDeath = { direction, ageSeconds: bounds.atMostSeconds, atMs: deps.clock.now(), atLeastSeconds: bounds.atLeastSeconds };
    const between = bounds.atLeastSeconds !== null ? ` (its siblings bound the new timeout to (${bounds.atLeastSeconds.toFixed(1)}, ${bounds.atMostSeconds.toFixed(1)}] s)` : '';
    deps.log.warn(`target ${this.name()}: sentinel died after ${report.ageSeconds.toFixed(1)} s idle (${report.outcome})${between}: the idle timeout shrank, re-measuring now`);
    deps.changed();
    if (deps.stopped()) return;
    if (this.streak >= MAX_SENTINEL_REMEASURES) {
      // A path whose timeout keeps moving would otherwise be measured back to back forever.
      deps.log.warn(`target ${this.name()}: ${this.streak} sentinel re-measurements in a row; waiting for the schedule`);
      this.paused = true;
      return;
    }
    this.streak++;
    deps.remeasure();
  }

  /** Ends the sentinel (a job is about to run, or the target stops); resolves once it closed. */
  async stop(): Promise<void> {
    const s = this.current;
    if (!s) return;
    this.current = null;
    s.controller.abort(new Error('sentinel stopped'));
    await s.done;
  }

  sessionsOpen(): number {
    return this.open;
  }

  deathCount(): number {
    return this.deaths;
  }

  /** The latest death, if any: an upper bound on the path's timeout since then (the re-measurement starts below it). */
  lastDeath(): SentinelDeath | null {
    return this.latestDeath;
  }

  /** What the sentinel watches now, if one runs, and how many of its checks passed so far. */
  watching(): { idleSeconds: number; direction: Direction; since: number; checks: number } | null {
    const s = this.current;
    return s ? { idleSeconds: s.idleSeconds, direction: s.direction, since: s.since, checks: s.checks } : null;
  }
}
