// Sentinels: idle at ~90 % of the last estimate, re-check, and on a path death count it and
// re-measure at once. Sessions are a scripted SearchSession (the prober boundary) on a virtual clock.
import { afterEach, describe, expect, it } from 'vitest';
import { boundsAfterDeath, runSentinel, sentinelPlan } from '../../src/daemon/sentinel.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn, OpenerFactory } from '../../src/daemon/runner.ts';
import type { Logger } from '../../src/log.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';
import type { Clock, MeasurementResult, ProbeOutcome, ProbeReport, SearchSession, SessionOpener } from '../../src/search/types.ts';

const PIN = `SHA256:${'E'.repeat(43)}`;

/**
 * Virtual time: sleep advances the clock instantly (yielding once so aborts can land). Sleeps after
 * the first `blockAfter` wait until aborted (time stands still for the rest of the test).
 * `untilSlept(n)` resolves when the n-th sleep has been asked for: tests wait on that event, never
 * on wall-clock time.
 */
function virtualClock(blockAfter = Number.POSITIVE_INFINITY): Clock & { slept: number[]; untilSlept(n: number): Promise<void> } {
  let now = 1_000_000;
  const slept: number[] = [];
  const waiters: { n: number; resolve(): void }[] = [];
  return {
    slept,
    now: () => now,
    untilSlept: (n) => new Promise<void>((resolve) => (slept.length >= n ? resolve() : waiters.push({ n, resolve }))),
    sleep: async (ms, signal) => {
      slept.push(ms);
      for (const w of waiters.filter((w) => slept.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('aborted');
      if (slept.length > blockAfter) {
        await new Promise((_r, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      }
      now += ms;
    },
  };
}

/** A logger that keeps its lines; `until(text, n)` resolves once n lines containing `text` were logged. */
function loggedLines() {
  const lines: string[] = [];
  const waiters: { text: string; n: number; resolve(): void }[] = [];
  const count = (text: string) => lines.filter((l) => l.includes(text)).length;
  const add = (line: string) => {
    lines.push(line);
    for (const w of waiters.filter((w) => count(w.text) >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const logger: Logger = { debug: add, info: add, warn: add, error: add };
  return { lines, logger, until: (text: string, n = 1) => new Promise<void>((resolve) => (count(text) >= n ? resolve() : waiters.push({ text, n, resolve }))) };
}

/** A session whose outbound probes answer from a script; ends with `silent` after the script. */
function scriptedOpener(clock: Clock, script: ProbeOutcome[], log: string[]): SessionOpener {
  let n = 0;
  return {
    inboundSupported: false,
    async open(): Promise<SearchSession> {
      const id = `s${++n}`;
      let last = clock.now();
      let closed = false;
      log.push(`open ${id}`);
      return {
        id,
        lastActivityAt: () => last,
        isClosed: () => closed,
        serverHeartbeatSeconds: () => null,
        async probeOutbound(): Promise<ProbeReport> {
          const outcome = script.shift() ?? 'silent';
          const report = { outcome, ageSeconds: (clock.now() - last) / 1000, at: clock.now() };
          if (outcome === 'alive') last = clock.now();
          log.push(`${outcome} after ${report.ageSeconds}s`);
          return report;
        },
        async probeInbound(): Promise<ProbeReport> {
          throw new Error('not supported');
        },
        close() {
          closed = true;
          log.push(`close ${id}`);
        },
      };
    },
  };
}

describe('sentinel', () => {
  it('idles at the planned fraction, re-arms after each alive check, and reports a death', async () => {
    const clock = virtualClock();
    const log: string[] = [];
    const open: number[] = [];
    const end = await runSentinel(
      { idleSeconds: 27, direction: 'outbound', signal: new AbortController().signal, maxChecks: 10 },
      { opener: scriptedOpener(clock, ['alive', 'alive', 'reset'], log), clock, onSessionsOpen: (n) => open.push(n) },
    );
    expect(end.kind).toBe('died');
    if (end.kind === 'died') expect(end.report.outcome).toBe('reset');
    expect(clock.slept).toEqual([27000, 27000, 27000]);
    expect(log).toEqual(['open s1', 'alive after 27s', 'alive after 27s', 'reset after 27s', 'close s1']);
    expect(open).toEqual([1, 0]);
  });

  it('a server-side close is not a path death; abort ends it quietly; checks are bounded', async () => {
    const clock = virtualClock();
    const closedByServer = await runSentinel(
      { idleSeconds: 5, direction: 'outbound', signal: new AbortController().signal, maxChecks: 10 },
      { opener: scriptedOpener(clock, ['alive', 'server_closed'], []), clock, onSessionsOpen: () => {} },
    );
    expect(closedByServer).toMatchObject({ kind: 'ended' });
    const bounded = await runSentinel(
      { idleSeconds: 5, direction: 'outbound', signal: new AbortController().signal, maxChecks: 3 },
      { opener: scriptedOpener(clock, ['alive', 'alive', 'alive', 'alive'], []), clock, onSessionsOpen: () => {} },
    );
    expect(bounded).toEqual({ kind: 'ended', reason: 'sentinel made its 3 checks' });
    const ctl = new AbortController();
    ctl.abort();
    const aborted = await runSentinel(
      { idleSeconds: 5, direction: 'outbound', signal: ctl.signal, maxChecks: 3 },
      { opener: scriptedOpener(clock, ['alive'], []), clock, onSessionsOpen: () => {} },
    );
    expect(aborted).toEqual({ kind: 'aborted' });
  });

  it('a staggered session waits before opening; checkNow checks it at once and ends it with that report', async () => {
    const clock = virtualClock(2);
    const log: string[] = [];
    const checkNow = new AbortController();
    const run = runSentinel(
      { idleSeconds: 20, direction: 'outbound', signal: new AbortController().signal, maxChecks: 10, startDelayMs: 10_000, checkNow: checkNow.signal },
      { opener: scriptedOpener(clock, ['alive', 'alive'], log), clock, onSessionsOpen: () => {} },
    );
    // Sleep 1: the stagger; sleep 2: its first idle period, cut short (the clock stands still in it).
    await clock.untilSlept(2);
    checkNow.abort();
    const end = await run;
    expect(clock.slept).toEqual([10_000, 20_000]);
    expect(end).toMatchObject({ kind: 'checked', report: { outcome: 'alive', ageSeconds: 0 } });
    expect(log).toEqual(['open s1', 'alive after 0s', 'close s1']);
    // Asked before it opened: it never opens.
    const early = new AbortController();
    early.abort();
    const notOpened = await runSentinel(
      { idleSeconds: 20, direction: 'outbound', signal: new AbortController().signal, startDelayMs: 10_000, checkNow: early.signal },
      { opener: scriptedOpener(virtualClock(), [], log), clock, onSessionsOpen: () => {} },
    );
    expect(notOpened).toMatchObject({ kind: 'ended' });
    expect(log).toHaveLength(3);
  });

  it('bounds after a death: siblings refreshed after the dead session bound the timeout from below (alive) or above (dead)', () => {
    const at = 100_000;
    // The dead session was refreshed at 100 s − 21.6 s = 78.4 s.
    const death: ProbeReport = { outcome: 'silent', ageSeconds: 21.6, at };
    const report = (outcome: ProbeOutcome, ageSeconds: number, atMs = at): ProbeReport => ({ outcome, ageSeconds, at: atMs });
    expect(boundsAfterDeath(death, [])).toEqual({ atMostSeconds: 21.6, atLeastSeconds: null });
    expect(boundsAfterDeath(death, [report('alive', 10.8)])).toEqual({ atMostSeconds: 21.6, atLeastSeconds: 10.8 });
    // Refreshed before the dead one (at 76 s): it may still carry the old expiry, so its age proves nothing.
    expect(boundsAfterDeath(death, [report('alive', 24)])).toEqual({ atMostSeconds: 21.6, atLeastSeconds: null });
    // A dead sibling lowers the upper bound, whenever it was refreshed.
    expect(boundsAfterDeath(death, [report('alive', 7.2), report('reset', 14.4)])).toEqual({ atMostSeconds: 14.4, atLeastSeconds: 7.2 });
    // Contradictory (alive above a death): only the upper bound is kept.
    expect(boundsAfterDeath(death, [report('alive', 15), report('silent', 14)])).toEqual({ atMostSeconds: 14, atLeastSeconds: null });
  });

  it('plans on the shortest timeout found, only for directions it can probe', () => {
    const r = (direction: 'outbound' | 'inbound', verdict: string, est: number | null) => ({ direction, verdict, estimateSeconds: est, lowerSeconds: null });
    expect(sentinelPlan([r('outbound', 'timeout', 100), r('inbound', 'timeout', 60)], 0.9, true)).toEqual({ direction: 'inbound', idleSeconds: 54 });
    expect(sentinelPlan([r('outbound', 'timeout', 100), r('inbound', 'timeout', 60)], 0.9, false)).toEqual({ direction: 'outbound', idleSeconds: 90 });
    expect(sentinelPlan([r('outbound', 'no_timeout_up_to_max', null)], 0.9, true)).toBeNull();
    // A wide bracket at a short timeout: 0.9 × 3.4 = 3.06 s would outlive a 3 s path; the proven 2.9 s does not.
    expect(sentinelPlan([{ direction: 'outbound', verdict: 'timeout', estimateSeconds: 3.4, lowerSeconds: 2.9 }], 0.9, true)).toEqual({ direction: 'outbound', idleSeconds: 2.9 });
    expect(sentinelPlan([{ direction: 'outbound', verdict: 'timeout', estimateSeconds: 100, lowerSeconds: 99 }], 0.9, true)).toEqual({ direction: 'outbound', idleSeconds: 90 });
  });
});

describe('sentinel in the daemon', () => {
  const daemons: Daemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
  });

  it('a dying sentinel is counted and triggers an immediate re-measurement with the shorter timeout', async () => {
    // Sleeps: the startup jitter (0), the first sentinel's 2 idle periods, then the second sentinel idles until shutdown.
    const clock = virtualClock(3);
    const log: string[] = [];
    const estimates = [30, 20];
    const calls: number[] = [];
    const measure: MeasureFn = async (spec) => {
      const est = estimates[calls.length] ?? 20;
      calls.push(est);
      return {
        target: spec.name,
        startedAt: new Date().toISOString(),
        elapsedSeconds: 1,
        results: [{ direction: 'outbound', verdict: 'timeout', lowerSeconds: est - 1, upperSeconds: est + 1, estimateSeconds: est, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 1, reason: null }],
        serverHeartbeatSeconds: null,
        recommendedHeartbeatSeconds: null,
      } satisfies MeasurementResult;
    };
    // First sentinel: alive once, then the path drops it. Second sentinel (after re-measure): stays alive.
    const scripts: ProbeOutcome[][] = [['alive', 'silent'], Array(5).fill('alive')];
    const openerFactory: OpenerFactory = () => scriptedOpener(clock, scripts.shift() ?? [], log);
    const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
    const daemon = new Daemon({
      config: resolveConfig({
        global: { jitter_seconds: 0 },
        targets: [{ name: 'edge', host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'], sentinel: { enabled: true, fraction: 0.9, sessions: 1 } }],
      }),
      measure,
      openerFactory,
      clock,
      cron: noCron,
    });
    daemons.push(daemon);
    daemon.start();
    // The 4th sleep is the new sentinel's first idle period: the re-measurement has been stored by then.
    await clock.untilSlept(4);
    expect(calls).toEqual([30, 20]);
    const s = daemon.snapshot('edge')!;
    expect(job(MEASUREMENT, s).latestOk?.result?.results[0].estimateSeconds).toBe(20);
    expect(s.sentinelDeaths).toBe(1);
    expect(job(MEASUREMENT, s).counters.runs).toBe(2);
    // The first sentinel idled 27 s (0.9 × 30) per check.
    expect(clock.slept).toEqual([0, 27000, 27000, 18000]); // jitter 0, then 0.9 x 20 for the new sentinel
    expect(s.sentinel).toMatchObject({ direction: 'outbound', idleSeconds: 18 });
    expect(log.slice(0, 4)).toEqual(['open s1', 'alive after 27s', 'silent after 27s', 'close s1']);
  });

  it('stops re-measuring after 3 sentinel deaths in a row until a scheduled or API run', async () => {
    const clock = virtualClock();
    const calls: number[] = [];
    const measure: MeasureFn = async (spec) => {
      calls.push(clock.now());
      return {
        target: spec.name,
        startedAt: new Date().toISOString(),
        elapsedSeconds: 1,
        results: [{ direction: 'outbound', verdict: 'timeout', lowerSeconds: 9, upperSeconds: 11, estimateSeconds: 10, failureMode: 'reset', probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 1, reason: null }],
        serverHeartbeatSeconds: null,
        recommendedHeartbeatSeconds: null,
      } satisfies MeasurementResult;
    };
    // Every sentinel dies on its first check: a path whose timeout keeps moving.
    const openerFactory: OpenerFactory = () => scriptedOpener(clock, ['reset'], []);
    const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
    const log = loggedLines();
    const daemon = new Daemon({
      log: log.logger,
      config: resolveConfig({
        global: { jitter_seconds: 0 },
        targets: [{ name: 'wobbly', host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'], sentinel: { enabled: true } }],
      }),
      measure,
      openerFactory,
      clock,
      cron: noCron,
    });
    daemons.push(daemon);
    daemon.start();
    // The pause is logged right where the runner stops re-measuring: nothing is scheduled after it.
    await log.until('sentinel re-measurements in a row');
    const s = daemon.snapshot('wobbly')!;
    expect(s.sentinelDeaths).toBe(4); // 1 startup run + 3 re-measurements, each followed by a death
    expect(calls).toHaveLength(4);
    expect(s.sentinel).toBeNull();
    // An API run lifts the pause: its sentinel is started again.
    expect(daemon.trigger('wobbly', 'measurement')).toBe('started');
    await log.until('sentinel died', 5);
    expect(daemon.snapshot('wobbly')!.sentinelDeaths).toBeGreaterThanOrEqual(5);
  });
});
