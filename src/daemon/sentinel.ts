// A sentinel is one SSH session kept open between measurements that idles at ~90 % of the last
// estimate and then checks it is still alive. While the path's idle timeout stays where it was
// measured, every check passes; if one fails with reset/silent, the timeout shrank below 90 % of the
// estimate — the caller counts it and re-measures at once. A server-side close is not the path's
// fault and is not counted.
// TargetSentinel (below) is the sentinel's life on one target: when one may watch, its session
// budget, what a death triggers (a re-measurement, at most MAX_SENTINEL_REMEASURES in a row).
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock, Direction, MeasurementResult, ProbeReport, SessionOpener, SearchSession } from '../search/types.ts';
import type { TargetSpec } from '../probe/target.ts';
import type { SessionBudget } from './budget.ts';
import type { TargetConfig } from './config.ts';
import type { Logger } from '../log.ts';

export type SentinelEnd =
  | { kind: 'died'; report: ProbeReport }
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
          await deps.clock.sleep(wait, opts.signal);
          report = await session.probeOutbound();
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

/** A sentinel's death: the path forgot an idle session in `direction` after `ageSeconds`, at clock time `atMs`. */
export interface SentinelDeath {
  direction: Direction;
  ageSeconds: number;
  atMs: number;
}

/** The one sentinel of one target, between its jobs (the runner says when: see TargetRunner). */
export class TargetSentinel {
  private current: { controller: AbortController; done: Promise<void>; idleSeconds: number; direction: Direction; since: number; checks: number } | null = null;
  private sessions = 0;
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
    const lease = deps.budget.tryAcquire(1);
    if (!lease) {
      deps.log.warn(`target ${this.name()}: no session budget left for a sentinel`);
      return;
    }
    const controller = new AbortController();
    const sentinel = { controller, idleSeconds: plan.idleSeconds, direction: plan.direction, since: deps.clock.now(), checks: 0, done: Promise.resolve() };
    this.current = sentinel;
    const direction = plan.direction;
    sentinel.done = runSentinel(
      { idleSeconds: plan.idleSeconds, direction, signal: controller.signal, maxChecks: SENTINEL_MAX_CHECKS },
      {
        opener,
        clock: deps.clock,
        onSessionsOpen: (n) => {
          this.sessions = n;
          deps.changed();
        },
        onAlive: () => {
          sentinel.checks++;
        },
      },
    )
      .then((end) => {
        if (this.current === sentinel) this.current = null;
        if (end.kind === 'died') this.onDeath(direction, end.report);
        else if (end.kind === 'ended') deps.log.info(`target ${this.name()}: ${end.reason}`);
      })
      .catch((err) => deps.log.error(`target ${this.name()}: sentinel crashed: ${(err as Error).message}`))
      .finally(() => lease.release());
    deps.changed();
  }

  private onDeath(direction: Direction, report: ProbeReport): void {
    const { deps } = this;
    this.deaths++;
    this.latestDeath = { direction, ageSeconds: report.ageSeconds, atMs: deps.clock.now() };
    deps.log.warn(`target ${this.name()}: sentinel died after ${report.ageSeconds.toFixed(1)} s idle (${report.outcome}): the idle timeout shrank, re-measuring now`);
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
    return this.sessions;
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
