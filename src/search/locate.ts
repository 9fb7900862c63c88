// The locate planner (idle-timeout traceroute): which hop's box enforces each step of the path's
// idle-timeout profile. Pure logic over the injected Clock and a LocateOpener, so the same code
// runs against real SSH sessions and against the multi-box simulator (sim/multibox.ts).
//
// 1. The path timeout T = P(0) is known (--timeout, history) or measured with plain sessions.
// 2. Frontier round: one or two sessions per hop f+1…K idle "at their hop" (TTL-limited kernel
//    keepalive) and are all probed at an age just above the bracket. Nearer than the box they die,
//    from the box's hop on they live: the boundary is the box's hop. Cost ≈ T.
// 3. The next box: a timeout search (the ordinary engine) with sessions idling at the boundary hop
//    measures P(boundary), the shortest timeout beyond it; then a frontier round above it, and so
//    on until the search finds no timeout up to --max or the target's own hop is reached.
import { abortError } from './clock.ts';
import { searchIdleTimeout } from './index.ts';
import { bracketWidthTarget } from './precision.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS } from './silent-deadline.ts';
import {
  disputedHops,
  evidenceOf,
  frontierAgeSeconds,
  hiddenBefore,
  keepaliveTiming,
  maxAgeSeconds,
  mergeHop,
  readRound,
} from './locate-read.ts';
import type {
  FrontierRound,
  KeepaliveTiming,
  LocatedBox,
  LocateOpener,
  LocateOptions,
  LocateProgress,
  LocateResult,
  PathTimeout,
} from './locate-types.ts';
import { ConnectError, type Clock, type FailureMode, type SearchSession, type SessionOpener } from './types.ts';

/** Re-tests of a contradictory round (a survival below a failure: probe loss) before giving up. */
const MAX_RETESTS = 2;

export async function locateBoxes(opener: LocateOpener, clock: Clock, opts: LocateOptions): Promise<LocateResult> {
  return new LocateRun(opener, clock, opts).run();
}

class LocateRun {
  private readonly startMs: number;
  private sessionsOpened = 0;
  private readonly boxes: LocatedBox[] = [];
  private readonly rounds: FrontierRound[] = [];
  /** Failure modes seen in the latest frontier round (a box's mode when the bracket was given). */
  private roundModes = new Set<FailureMode>();

  constructor(
    private readonly opener: LocateOpener,
    private readonly clock: Clock,
    private readonly opts: LocateOptions,
  ) {
    this.startMs = clock.now();
  }

  private result(verdict: LocateResult['verdict'], pathTimeout: PathTimeout | null, reason: string | null, searchedBeyond: number | null): LocateResult {
    return {
      verdict,
      pathTimeout,
      boxes: [...this.boxes].sort((a, b) => a.hop - b.hop),
      hiddenBefore: hiddenBefore(this.boxes),
      searchedBeyondUpToSeconds: searchedBeyond,
      rounds: this.rounds,
      sessionsOpened: this.sessionsOpened,
      elapsedMs: this.clock.now() - this.startMs,
      reason,
    };
  }

  private counted(o: SessionOpener): SessionOpener {
    return {
      inboundSupported: o.inboundSupported,
      open: (signal) => {
        this.sessionsOpened++;
        return o.open(signal);
      },
    };
  }

  private progress(p: Omit<LocateProgress, 'boxes' | 'elapsedMs'>): void {
    this.opts.onProgress?.({ ...p, boxes: this.boxes.map((b) => ({ hop: b.hop, estimateSeconds: b.estimateSeconds })), elapsedMs: this.clock.now() - this.startMs });
  }

  async run(): Promise<LocateResult> {
    const { opts } = this;
    if (!Number.isInteger(opts.maxHops) || opts.maxHops < 1 || opts.maxHops > 255) throw new RangeError(`maxHops must be an integer 1–255, got ${opts.maxHops}`);
    const topHop = Math.min(opts.maxHops, opts.targetHop ?? opts.maxHops);

    let level: PathTimeout;
    if (opts.pathTimeout) level = opts.pathTimeout;
    else {
      const r = await this.search(0, null, opts.minSeconds, opts.maxSeconds, 'path_timeout');
      if (r.verdict === 'no_timeout_up_to_max') return this.result('no_timeout_up_to_max', null, `no idle timeout on the path up to ${opts.maxSeconds} s: nothing to locate`, null);
      if (r.verdict !== 'timeout') return this.result('inconclusive', null, r.reason ?? `the path timeout could not be measured (${r.verdict})`, null);
      level = r.timeout!;
    }
    const pathTimeout: PathTimeout = level;
    const timing = keepaliveTiming(pathTimeout.lowerSeconds ?? pathTimeout.estimateSeconds * 0.8);
    const ceiling = Math.min(opts.maxSeconds, maxAgeSeconds(timing));

    let frontier = 0;
    for (let guard = 0; guard <= topHop; guard++) {
      const age = frontierAgeSeconds(level.upperSeconds, opts.precision);
      if (age > ceiling) {
        return this.result('inconclusive', pathTimeout, `the next box's timeout (${level.upperSeconds.toFixed(1)} s) is beyond the longest idle age a hop-limited session can reach (${ceiling.toFixed(0)} s)`, null);
      }
      const hops = range(frontier + 1, topHop);
      let round: FrontierRound;
      try {
        round = await this.frontierRound(hops, age, timing);
      } catch (err) {
        if (err instanceof ControlFailed) return this.result('inconclusive', pathTimeout, err.message, null);
        throw err;
      }
      if (round.boundary === null || !round.consistent) {
        const why = round.boundary === null
          ? opts.targetHop === null
            ? `no session up to hop ${topHop} outlived ${age.toFixed(1)} s: the box is beyond --max-hops ${opts.maxHops}`
            : `even the session idling at the target's own hop ${topHop} died at ${age.toFixed(1)} s: not a middlebox (the server or the path itself closes idle connections)`
          : `frontier round at ${age.toFixed(1)} s stayed contradictory after ${MAX_RETESTS} re-tests (probe loss?)`;
        const verdict = round.boundary === null && opts.targetHop === null ? 'beyond_max_hops' : 'inconclusive';
        return this.result(verdict, pathTimeout, why, null);
      }
      const seenMode: FailureMode | null = this.roundModes.has('reset') ? 'reset' : this.roundModes.has('silent') ? 'silent' : null;
      this.boxes.push({ hop: round.boundary, lowerSeconds: level.lowerSeconds, upperSeconds: level.upperSeconds, estimateSeconds: level.estimateSeconds, failureMode: level.failureMode ?? seenMode, foundAfterMs: this.clock.now() - this.startMs });
      frontier = round.boundary;
      if (frontier >= topHop) {
        if (opts.targetHop !== null) return this.result('located', pathTimeout, null, null);
        return this.result('located', pathTimeout, `the last box found sits at --max-hops ${opts.maxHops}; farther hops were not tried`, null);
      }
      // Sessions at the boundary hop outlived `age`: the next step of the profile lies above it.
      const next = await this.search(frontier, timing, age, ceiling, 'next_box');
      if (next.verdict === 'no_timeout_up_to_max') return this.result('located', pathTimeout, null, ceiling);
      if (next.verdict !== 'timeout') return this.result('inconclusive', pathTimeout, next.reason ?? `the timeout beyond hop ${frontier} could not be measured (${next.verdict})`, null);
      level = next.timeout!;
    }
    return this.result('inconclusive', pathTimeout, 'more steps than hops (contradictory observations)', null);
  }

  /** An ordinary timeout search with sessions idling at `hop` (0 = plain sessions). */
  private async search(hop: number, timing: KeepaliveTiming | null, minSeconds: number, maxSeconds: number, phase: LocateProgress['phase']) {
    const { opts } = this;
    const r = await searchIdleTimeout(this.counted(this.opener.atHop(hop, timing)), this.clock, {
      direction: 'outbound',
      minSeconds,
      maxSeconds,
      precisionAbsSeconds: opts.precision.absSeconds,
      precisionRelative: opts.precision.relative,
      sessions: opts.maxSessions,
      // Locate's sessions use the prober's default floor (src/probe/locate.ts opens them so).
      silentDeadlineFloorMs: DEFAULT_SILENT_DEADLINE_FLOOR_MS,
      connectStaggerMs: opts.connectStaggerMs,
      maxConnectsPerMinute: opts.maxConnectsPerMinute,
      signal: opts.signal,
      control: opts.control,
      onProgress: (p) => this.progress({ phase, hops: [hop, hop], lowerSeconds: p.lowerSeconds, upperSeconds: p.upperSeconds, etaMs: p.etaMs }),
    });
    const timeout: PathTimeout | null =
      r.verdict === 'timeout' && r.upperSeconds !== null
        ? { lowerSeconds: r.lowerSeconds, upperSeconds: r.upperSeconds, estimateSeconds: r.estimateSeconds ?? r.upperSeconds, failureMode: r.failureMode }
        : null;
    return timeout ? { verdict: 'timeout' as const, timeout, reason: null } : { verdict: r.verdict, timeout: null, reason: r.reason };
  }

  /** Probes the hops at one age, re-testing contradictory hops; survivals from any try count. */
  private async frontierRound(hops: number[], ageSeconds: number, timing: KeepaliveTiming): Promise<FrontierRound> {
    const evidence = new Map<number, ('alive' | 'failed' | 'unknown')[]>(hops.map((h) => [h, []]));
    let ask = hops;
    let round: FrontierRound | null = null;
    this.roundModes = new Set();
    for (let attempt = 0; attempt <= MAX_RETESTS && ask.length > 0; attempt++) {
      const perHop = Math.max(1, Math.min(2, Math.floor(this.opts.maxRoundSessions / ask.length)));
      const seen = await this.probeHopsAt(ask, perHop, ageSeconds, timing);
      for (const [hop, outcomes] of seen) evidence.get(hop)!.push(...outcomes);
      round = readRound(ageSeconds, new Map([...evidence].map(([h, o]) => [h, mergeHop(o)])));
      this.rounds.push(round);
      if (round.consistent) break;
      ask = disputedHops(round);
    }
    return round!;
  }

  /** Opens `perHop` sessions per hop (staggered), lets each idle to `ageSeconds`, probes it once. */
  private async probeHopsAt(hops: number[], perHop: number, ageSeconds: number, timing: KeepaliveTiming): Promise<Map<number, ('alive' | 'failed' | 'unknown')[]>> {
    const { clock, opts } = this;
    const seen = new Map<number, ('alive' | 'failed' | 'unknown')[]>(hops.map((h) => [h, []]));
    const jobs: { hop: number; startAt: number }[] = [];
    const t0 = clock.now();
    // Highest hops first: their sessions, once open, also tell the round that the target is reachable.
    const order = [...hops].sort((a, b) => b - a).flatMap((h) => Array.from({ length: perHop }, () => h));
    order.forEach((hop, i) => jobs.push({ hop, startAt: t0 + i * opts.connectStaggerMs }));
    const roundEndsAt = t0 + jobs.length * opts.connectStaggerMs + ageSeconds * 1000;
    const connectErrors: unknown[] = [];
    const ticker = this.tickFrontier(hops, roundEndsAt);
    await Promise.all(
      jobs.map(async (job) => {
        await clock.sleep(job.startAt - clock.now(), opts.signal);
        let session: SearchSession;
        try {
          session = await this.counted(this.opener.atHop(job.hop, timing)).open(opts.signal);
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          connectErrors.push(err);
          seen.get(job.hop)!.push('unknown');
          return;
        }
        try {
          const dueAt = session.lastActivityAt() + ageSeconds * 1000;
          await clock.sleep(Math.max(0, dueAt - clock.now()), opts.signal);
          const r = await session.probeOutbound();
          seen.get(job.hop)!.push(evidenceOf(r.outcome));
          if (r.outcome === 'reset' || r.outcome === 'silent') this.roundModes.add(r.outcome);
        } finally {
          session.close();
        }
      }),
    ).finally(() => ticker.abort());
    if (opts.signal?.aborted) throw abortError(opts.signal);
    if (connectErrors.length === jobs.length) throw connectErrors[0] instanceof ConnectError ? connectErrors[0] : new ConnectError(String(connectErrors[0]), 'unreachable');
    if (opts.control?.failedAt() != null) throw new ControlFailed();
    return seen;
  }

  /** Progress once a second during a round (its remaining time is simply the wait for the age). */
  private tickFrontier(hops: number[], endsAt: number): AbortController {
    const stop = new AbortController();
    if (!this.opts.onProgress) return stop;
    void (async () => {
      for (let i = 0; i < 100_000 && !stop.signal.aborted; i++) {
        this.progress({ phase: 'frontier', hops: [hops[0]!, hops.at(-1)!], lowerSeconds: null, upperSeconds: null, etaMs: Math.max(0, endsAt - this.clock.now()) });
        try {
          await this.clock.sleep(1000, stop.signal);
        } catch {
          return;
        }
      }
    })();
    return stop;
  }
}

class ControlFailed extends Error {
  constructor() {
    super('the control session died during a frontier round: the path failed for another reason');
    this.name = 'ControlFailed';
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let h = from; h <= to; h++) out.push(h);
  return out;
}

/** The bracket a known timeout S stands for: S ± the precision (for --timeout). */
export function givenPathTimeout(seconds: number, precision: { absSeconds: number; relative: number }, failureMode: FailureMode | null = null): PathTimeout {
  const w = bracketWidthTarget(precision, seconds) / 2;
  return { lowerSeconds: Math.max(0, seconds - w), upperSeconds: seconds + w, estimateSeconds: seconds, failureMode };
}
