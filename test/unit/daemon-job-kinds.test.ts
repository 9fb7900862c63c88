// Job kinds as one abstraction, through the real daemon (budget, history, scheduler) and the real
// HTTP app, with injected work functions (the prober boundary) and a hand-ticked cron:
// - the reload rule, the same for every kind: a reload that changes a kind's own settings (or the
//   target's endpoint) aborts that kind's run in flight and stores nothing; a reload that changes
//   another kind's settings leaves the run alone, and it is stored when it ends;
// - the recipe of docs/daemon.md ("Adding a job kind"), followed word for word by a kind that exists
//   only in this file: one definition plus one registry line, and it is scheduled, run under the
//   budget, stored, loaded after a restart, and shown in /api/targets, its own GET route, its POST
//   route and /metrics — with no change to the runner, the daemon or the exporter.
// Synchronised on the fakes' calls and settle() under the instant clock; no sleeps.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { DaemonMatrixOptions } from '../../src/daemon/runner.ts';
import { manualCron } from '../support/manual-cron.ts';
import type { DaemonLocateOptions } from '../../src/daemon/jobs/locate.ts';
import { JOB_REGISTRY } from '../../src/daemon/jobs/index.ts';
import { defineJob, type Job } from '../../src/daemon/job.ts';
import { JobKey } from '../../src/read-model/job-key.ts';
import { HEARTBEAT, LOCATE, MEASUREMENT } from '../../src/read-model/kinds.ts';
import { summarize } from '../../src/heartbeat/matrix.ts';
import type { HeartbeatMatrix } from '../../src/heartbeat/types.ts';
import type { LocateDocument } from '../../src/probe/locate.ts';
import type { MeasureOptions, TargetSpec } from '../../src/probe/target.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { instantClock, settle } from '../support/settle.ts';

const PIN = `SHA256:${'K'.repeat(43)}`;
const HB = { intervals: [5, 20], window: '1m', count_max: 3, schedule: '0 4 * * *' };

function target(extra: Record<string, unknown> = {}) {
  return { name: 'a', host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 2, directions: ['outbound'], heartbeat: HB, locate: true, ...extra };
}

const config = (extra: Record<string, unknown> = {}) => resolveConfig({ global: { jitter_seconds: 0 }, targets: [target(extra)] });

function measured(spec: TargetSpec): MeasurementResult {
  return {
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 1,
    results: [{ direction: 'outbound', verdict: 'timeout', lowerSeconds: 9, upperSeconds: 11, estimateSeconds: 10, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 2, maxConcurrentSessions: 2, elapsedMs: 1000, reason: null }],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: 4,
  };
}

function matrix(spec: TargetSpec, opts: DaemonMatrixOptions): HeartbeatMatrix {
  const rows = opts.intervalsSeconds.map((h) => ({
    intervalSeconds: h,
    survived: true,
    secondsSurvived: opts.windowSeconds,
    diedAtSeconds: null,
    declaredDeadAtSeconds: null,
    cause: null,
    heartbeatsSent: 1,
    heartbeatsAnswered: 1,
    heartbeatsUnanswered: 0,
    longestAnsweredIdleSeconds: h,
    serverHeartbeatSeconds: null,
    detail: null,
  }));
  return summarize(spec.name, new Date().toISOString(), opts.windowSeconds, opts, rows);
}

function located(spec: TargetSpec): LocateDocument {
  return { target: spec.name, elapsedSeconds: 1, pathTimeoutSeconds: 10, hops: [{ hop: 1, address: '198.18.1.1' }], boxes: [{ hop: 1, address: '198.18.1.1', lowerSeconds: 9, upperSeconds: 11, estimateSeconds: 10, failureMode: 'silent' }], hiddenBefore: null };
}

/** A work function whose calls the test finishes by hand (with the default result, or an error). */
function pending<Opts extends { signal?: AbortSignal }, R>(result: (spec: TargetSpec, opts: Opts) => R) {
  const calls: { spec: TargetSpec; opts: Opts; aborted: boolean; finished: boolean; finish(): void }[] = [];
  const fn = (spec: TargetSpec, opts: Opts) =>
    new Promise<R>((resolve, reject) => {
      const call = { spec, opts, aborted: false, finished: false, finish: () => ((call.finished = true), resolve(result(spec, opts))) };
      opts.signal?.addEventListener('abort', () => ((call.aborted = true), reject(new Error('aborted'))), { once: true });
      calls.push(call);
    });
  return { fn, calls };
}

const daemons: Daemon[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.shutdown();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('the reload rule, for every kind', () => {
  /** A daemon with all three kinds on target a, each with one stored result: idle, nothing queued. */
  async function idleDaemon() {
    const measure = pending<MeasureOptions, MeasurementResult>(measured);
    const heartbeat = pending<DaemonMatrixOptions, HeartbeatMatrix>(matrix);
    const locate = pending<DaemonLocateOptions, LocateDocument>(located);
    const daemon = new Daemon({ config: config(), measure: measure.fn, heartbeat: heartbeat.fn, locate: locate.fn, cron: manualCron().cron, random: () => 0, clock: instantClock() });
    daemons.push(daemon);
    daemon.start();
    // Start-up: the measurement, then the matrix (no result yet) and the locate run that follows a found timeout.
    for (const calls of [measure.calls, heartbeat.calls, locate.calls]) {
      await settle();
      expect(calls).toHaveLength(1);
      calls[0].finish();
    }
    await settle();
    expect(daemon.runningKind('a')).toBeNull();
    const fns = { measurement: measure, heartbeat, locate };
    /** Finishes whatever runs (a locate run follows every measurement that found a timeout) until the target is idle. */
    const drain = async () => {
      for (let i = 0; i < 5; i++) {
        await settle();
        const kind = daemon.runningKind('a');
        if (kind === null) return;
        const open = [...Object.entries(fns)].find(([k]) => k === kind)?.[1].calls.find((c) => !c.finished && !c.aborted);
        if (!open) throw new Error(`a ${kind} runs but no call of it is open`);
        open.finish();
      }
      throw new Error('target a did not become idle');
    };
    return { daemon, fns, drain };
  }

  // Each kind's own setting (changing it changes no other kind's settings), and how its next run shows it.
  const OWN = {
    measurement: { change: { precision_relative: 0.05 }, seen: (opts: { precisionRelative?: number }) => opts.precisionRelative === 0.05 },
    heartbeat: { change: { heartbeat: { ...HB, window: '2m' } }, seen: (opts: { windowSeconds?: number }) => opts.windowSeconds === 120 },
    locate: { change: { locate_max_hops: 12 }, seen: (opts: { maxHops?: number }) => opts.maxHops === 12 },
  } as const;
  const KINDS = ['measurement', 'heartbeat', 'locate'] as const;
  const KEYS: Record<(typeof KINDS)[number], JobKey<unknown>> = { measurement: MEASUREMENT, heartbeat: HEARTBEAT, locate: LOCATE };
  const cases = KINDS.flatMap((running) => KINDS.map((changed) => [running, changed] as const));

  it.each(cases)('a %s in flight, a reload that changes the %s settings', async (running, changed) => {
    const { daemon, fns, drain } = await idleDaemon();
    const calls = fns[running].calls;
    const key = KEYS[running];
    const before = job(key, daemon.snapshot('a'));
    const storedRuns = () => daemon.history.listRuns(key.kind, 'a').length;
    const rowsBefore = storedRuns();
    expect(daemon.trigger('a', running)).toBe('started');
    await settle();
    expect(calls).toHaveLength(2);
    const summary = await daemon.applyConfig(config(OWN[changed].change));
    expect(summary.changed).toEqual(['a']);
    await settle();
    const after = job(key, daemon.snapshot('a'));
    if (running === changed) {
      // Its own settings changed: the run in flight is aborted and nothing is stored.
      expect(calls[1].aborted).toBe(true);
      expect(after.running).toBeNull();
      expect(after.counters.runs).toBe(before.counters.runs);
      expect(after.latest?.id).toBe(before.latest?.id);
      expect(storedRuns()).toBe(rowsBefore);
    } else {
      // Another kind's settings changed: the run goes on and is stored when it ends.
      expect(calls[1].aborted).toBe(false);
      expect(after.running).not.toBeNull();
      calls[1].finish();
      await daemon.settled('a', running);
      const stored = job(key, daemon.snapshot('a'));
      expect(stored.counters.runs).toBe(before.counters.runs + 1);
      expect(stored.latest?.id).not.toBe(before.latest?.id);
      expect(stored.latest?.status).toBe('ok');
      expect(storedRuns()).toBe(rowsBefore + 1);
    }
    // Either way the changed kind's next run uses the new setting.
    await drain();
    expect(daemon.trigger('a', changed)).toBe('started');
    await settle();
    const next = fns[changed].calls.at(-1)!;
    expect(OWN[changed].seen(next.opts)).toBe(true);
    next.finish();
    await daemon.settled('a', changed);
  });

  it.each(KINDS)('a %s in flight, a reload that changes the endpoint (port): aborted, nothing stored', async (running) => {
    const { daemon, fns } = await idleDaemon();
    const key = KEYS[running];
    const before = job(key, daemon.snapshot('a'));
    expect(daemon.trigger('a', running)).toBe('started');
    await settle();
    await daemon.applyConfig(config({ port: 2223 }));
    await settle();
    expect(fns[running].calls[1].aborted).toBe(true);
    const after = job(key, daemon.snapshot('a'));
    expect(after.counters.runs).toBe(before.counters.runs);
    expect(after.latest?.id).toBe(before.latest?.id);
    // The next run of every kind goes to the new endpoint.
    expect(daemon.trigger('a', running)).toBe('started');
    await settle();
    expect(fns[running].calls.at(-1)!.spec.port).toBe(2223);
  });
});

// ---- The recipe, word for word (docs/daemon.md, "Adding a job kind") -------------------------------
// 1. A file with a factory that returns defineJob({...}) and takes the function doing the work.
interface Echo {
  answer: number;
}
type EchoFn = (spec: TargetSpec, signal: AbortSignal) => Promise<Echo>;
const ECHO = new JobKey<Echo>('echo');
const ECHO_METRIC = 'idleprobe_test_echo_answer';

function echoJob(work: EchoFn | undefined): Job {
  return defineJob<{ schedule: string }, Echo, EchoFn>({
    key: ECHO,
    label: 'echo check',
    route: 'echo',
    configField: null,
    work,
    settingsOf: () => ({ schedule: '*/5 * * * *' }),
    schedule: (s) => s.schedule,
    sessions: () => 1,
    run: (fn, spec, _settings, ctx) => fn(spec, ctx.signal),
    describeStart: () => '',
    describeResult: (e) => ({ info: `answered ${e.result?.answer}`, warnings: [] }),
    present: {
      families: [{ name: ECHO_METRIC, type: 'gauge', labelNames: ['target'], help: 'The answer of the latest echo check (a test-only job kind).' }],
      samples: (state, _counters, t) => {
        const answer = state?.latestOk?.result?.answer;
        return answer === undefined ? [] : [{ name: ECHO_METRIC, labels: { target: t.name }, value: answer }];
      },
      targetJson: (state) => ({ echo: state?.latestOk?.result ?? null }),
      detailJson: (state) => ({ answer: state.latestOk?.result?.answer ?? null, runs: state.counters.runs, running: state.running !== null }),
    },
  });
}

describe('adding a job kind by the recipe', () => {
  it('a test-only kind is scheduled, run under the budget, stored, reloaded from history, and shown in the API and /metrics', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-kinds-'));
    dirs.push(dir);
    const historyFile = path.join(dir, 'h.sqlite');
    const measure = pending<MeasureOptions, MeasurementResult>(measured);
    const echo = pending<{ signal: AbortSignal }, Echo>(() => ({ answer: 42 }));
    const echoFn: EchoFn = (spec, signal) => echo.fn(spec, { signal });
    // 2. One registry line.
    const registry = [...JOB_REGISTRY, () => echoJob(echoFn)];
    const cron = manualCron();
    const make = () => {
      const d = new Daemon({ config: resolveConfig({ global: { jitter_seconds: 0 }, targets: [target({ heartbeat: false, locate: false })] }), historyFile, measure: measure.fn, registry, cron: cron.cron, random: () => 0, clock: instantClock() });
      daemons.push(d);
      return d;
    };
    const daemon = make();
    daemon.start();
    await settle();
    // Scheduled: its cron is registered; with no result yet it queues behind the first measurement.
    expect(cron.exprs()).toContain('*/5 * * * *');
    expect(job(ECHO, daemon.snapshot('a')).queued).toBe(true);
    expect(echo.calls).toHaveLength(0);
    measure.calls[0].finish();
    await settle();
    expect(echo.calls).toHaveLength(1);
    expect(daemon.budget.inUse).toBe(1); // its one session, from the shared budget
    const { model, renderer } = exporterOf(daemon);
    const app = await buildApp({ model, renderer, enableAdminApi: true });
    try {
      // Never beside another run of the target: the API answers 409 while it runs.
      const busy = await app.inject({ method: 'POST', url: '/api/measure/a' });
      expect(busy.statusCode).toBe(409);
      expect(busy.json().error).toContain('a echo check of a is running; a measurement never runs beside it');
      echo.calls[0].finish();
      await daemon.settled('a', 'echo');
      // Stored in the history under its kind.
      const store = new HistoryStore(historyFile);
      try {
        expect(store.listRuns<Echo>('echo', 'a').map((r) => [r.status, r.result?.answer])).toEqual([['ok', 42]]);
      } finally {
        store.close();
      }
      // Shown: its fields and counters in /api/targets, its own GET route, its POST route, its metric family.
      const targets = (await app.inject({ method: 'GET', url: '/api/targets' })).json();
      expect(targets.targets[0]).toMatchObject({ name: 'a', echo: { answer: 42 }, counters: { echoRuns: 1, echoFailures: 0, echoSkipped: 0, measurements: 1 } });
      const detail = await app.inject({ method: 'GET', url: '/api/targets/a/echo' });
      expect(detail.statusCode).toBe(200);
      expect(detail.json()).toEqual({ target: 'a', answer: 42, runs: 1, running: false });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain(`# TYPE ${ECHO_METRIC} gauge`);
      expect(metrics).toContain(`${ECHO_METRIC}{target="a"} 42`);
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
      expect(promtool.status, `${promtool.error ?? ''}${promtool.stdout}${promtool.stderr}`).toBe(0);
      // Its cron tick runs it again (after jitter 0); a tick while it runs is skipped and counted.
      cron.tick('*/5 * * * *');
      await settle();
      expect(echo.calls).toHaveLength(2);
      cron.tick('*/5 * * * *');
      expect(job(ECHO, daemon.snapshot('a')).counters.skipped).toBe(1);
      echo.calls[1].finish();
      await daemon.settled('a', 'echo');
      const triggered = await app.inject({ method: 'POST', url: '/api/echo/a' });
      expect(triggered.statusCode).toBe(202);
      await settle();
      expect(echo.calls).toHaveLength(3);
      echo.calls[2].finish();
      await daemon.settled('a', 'echo');
    } finally {
      await app.close();
    }
    await daemon.shutdown();
    // After a restart its latest result is back at once, and it does not run again until its schedule.
    const again = make();
    again.start();
    await settle();
    expect(job(ECHO, again.snapshot('a')).latestOk?.result).toEqual({ answer: 42 });
    expect(job(ECHO, again.snapshot('a')).queued).toBe(false);
    expect(echo.calls).toHaveLength(3);
  });

  it('a kind registered twice (same name or route) is refused when the daemon is made', () => {
    expect(() => new Daemon({ config: config(), measure: pending<MeasureOptions, MeasurementResult>(measured).fn, registry: [...JOB_REGISTRY, () => echoJob(undefined), () => echoJob(undefined)] })).toThrow(
      /echo, echo registered twice/,
    );
  });
});
