// The heartbeat survival matrix as a daemon mode, with an injected matrix runner and measure function
// (the prober boundary), a hand-driven cron, the real budget, history, metrics and HTTP routes:
// config, mutual exclusion with measurements, the shared session budget, cross-check against the
// latest bracket, history and warm restart, metrics, reload removing series, failures, shutdown.
import { instantClock, settle } from '../support/settle.ts';
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig, ConfigError, DEFAULT_HEARTBEAT, heartbeatSessions } from '../../src/daemon/config.ts';
import { parseHeartbeatRows } from '../../src/heartbeat/intervals.ts';
import { parse as parseYaml } from 'yaml';
import type { DaemonMatrixOptions, HeartbeatFn, MeasureFn } from '../../src/daemon/runner.ts';
import { manualCron } from '../support/manual-cron.ts';
import { ConnectError, type MeasurementResult } from '../../src/search/types.ts';
import type { MeasureOptions, TargetSpec } from '../../src/probe/target.ts';
import type { HeartbeatMatrix, HeartbeatRunResult } from '../../src/heartbeat/types.ts';
import { runHeartbeatMatrix, summarize } from '../../src/heartbeat/matrix.ts';
import type { HeartbeatSession } from '../../src/heartbeat/types.ts';
import { realClock } from '../../src/search/clock.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT, HEARTBEAT } from '../../src/read-model/kinds.ts';

const PIN = `SHA256:${'H'.repeat(43)}`;

function target(name: string, extra: Record<string, unknown> = {}) {
  return { name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 2, directions: ['outbound'], ...extra };
}

const HB = { intervals: [5, 20], window: '1m', count_max: 3, schedule: '0 4 * * *' };

function resultFor(spec: TargetSpec, lower: number, upper: number): MeasurementResult {
  return {
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 1,
    results: [
      { direction: 'outbound', verdict: 'timeout', lowerSeconds: lower, upperSeconds: upper, estimateSeconds: (lower + upper) / 2, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 2, maxConcurrentSessions: 2, elapsedMs: 1000, reason: null },
    ],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: Math.floor(lower / 2),
  };
}

/**
 * A path that drops connections idle longer than `timeoutSeconds`: what a real matrix would find.
 * `box`: a NAT (kernel keepalives refresh it: a tcp:N row below the timeout survives) or a proxy
 * (it closes every idle connection at the timeout whatever TCP does: tcp rows are `closed`).
 */
function matrixFor(name: string, opts: DaemonMatrixOptions, timeoutSeconds: number, box: 'nat' | 'proxy' = 'nat'): HeartbeatMatrix {
  const plan: { kind: 'ssh' | 'tcp'; h: number | null }[] = [
    ...opts.intervalsSeconds.map((h) => ({ kind: 'ssh' as const, h })),
    ...opts.tcpKeepaliveSeconds.map((h) => ({ kind: 'tcp' as const, h })),
    ...(opts.includeNoHeartbeat ? [{ kind: 'ssh' as const, h: null }] : []),
  ];
  const rows: HeartbeatRunResult[] = plan.map(({ kind, h }) => {
    if (kind === 'tcp') {
      const survived = box === 'nat' && h! < timeoutSeconds;
      return {
        kind,
        intervalSeconds: h,
        survived,
        secondsSurvived: survived ? opts.windowSeconds : timeoutSeconds,
        diedAtSeconds: survived ? null : timeoutSeconds,
        declaredDeadAtSeconds: survived ? null : timeoutSeconds,
        idleSecondsAtDeath: survived ? null : timeoutSeconds,
        cause: survived ? null : box === 'proxy' ? 'closed' : 'silent',
        heartbeatsSent: 0,
        heartbeatsAnswered: 0,
        heartbeatsUnanswered: 0,
        longestAnsweredIdleSeconds: null,
        serverHeartbeatSeconds: null,
        detail: null,
      };
    }
    const gap = h ?? opts.windowSeconds;
    const survived = gap < timeoutSeconds;
    return {
      kind,
      intervalSeconds: h,
      survived,
      secondsSurvived: survived ? opts.windowSeconds : 0,
      diedAtSeconds: survived || h === null ? null : h,
      declaredDeadAtSeconds: survived ? null : (h ?? opts.windowSeconds) * (h === null ? 1 : opts.countMax),
      cause: survived ? null : 'silent',
      heartbeatsSent: h === null ? 1 : Math.floor(opts.windowSeconds / h),
      heartbeatsAnswered: survived ? (h === null ? 1 : Math.floor(opts.windowSeconds / h)) : 0,
      heartbeatsUnanswered: survived ? 0 : 1,
      longestAnsweredIdleSeconds: survived ? gap : null,
      serverHeartbeatSeconds: null,
      detail: null,
    };
  });
  return summarize(name, new Date().toISOString(), opts.windowSeconds, opts, rows);
}

function controllable() {
  const measures: { spec: TargetSpec; opts: MeasureOptions; finish(r?: MeasurementResult | Error): void }[] = [];
  const matrices: { spec: TargetSpec; opts: DaemonMatrixOptions; finish(m?: HeartbeatMatrix | Error): void; aborted: boolean }[] = [];
  const measure: MeasureFn = (spec, opts) =>
    new Promise((resolve, reject) => {
      opts.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      measures.push({ spec, opts, finish: (r) => (r instanceof Error ? reject(r) : resolve(r ?? resultFor(spec, 9, 11))) });
    });
  const heartbeat: HeartbeatFn = (spec, opts) =>
    new Promise((resolve, reject) => {
      const call = { spec, opts, aborted: false, finish: (m?: HeartbeatMatrix | Error) => (m instanceof Error ? reject(m) : resolve(m ?? matrixFor(spec.name, opts, 10))) };
      opts.signal.addEventListener('abort', () => { call.aborted = true; reject(new Error('aborted')); }, { once: true });
      matrices.push(call);
    });
  return { measure, heartbeat, measures, matrices };
}

// Until the daemon has nothing left to do (instant clock injected below): no wall-clock sleep.
const flush = settle;

describe('heartbeat config', () => {
  it('is off by default; true means the defaults; a module sets it and a target overrides or switches it off', () => {
    const cfg = resolveConfig({
      modules: { hb: { heartbeat: { intervals: [15, '1m'], window: '10m', schedule: '5 2 * * *' } } },
      targets: [target('plain'), target('all-defaults', { heartbeat: true }), target('inherits', { module: 'hb' }), target('longer', { module: 'hb', heartbeat: { window: '1h30m', count_max: 5 } }), target('off', { module: 'hb', heartbeat: false })],
    });
    const hb = Object.fromEntries(cfg.targets.map((t) => [t.spec.name, t.settings.heartbeat]));
    expect(hb.plain).toBeNull();
    expect(hb['all-defaults']).toEqual(DEFAULT_HEARTBEAT);
    expect(DEFAULT_HEARTBEAT.intervalsSeconds).toEqual([15, 30, 45, 60, 120, 300]);
    expect(DEFAULT_HEARTBEAT.windowSeconds).toBe(1800);
    expect(hb.inherits).toEqual({ intervalsSeconds: [15, 60], tcpKeepaliveSeconds: [], windowSeconds: 600, countMax: 3, schedule: '5 2 * * *', includeNoHeartbeat: true });
    expect(hb.longer).toEqual({ intervalsSeconds: [15, 60], tcpKeepaliveSeconds: [], windowSeconds: 5400, countMax: 5, schedule: '5 2 * * *', includeNoHeartbeat: true });
    expect(hb.off).toBeNull();
    // A changed matrix config is a changed target on reload.
    const fp = new Set(cfg.targets.map((t) => t.fingerprint));
    expect(fp.size).toBe(5);
  });

  it('reports every bad field with its path', () => {
    const bad = () =>
      resolveConfig({
        global: { max_sessions: 4 },
        targets: [
          target('a', { heartbeat: { intervals: ['fast', 10], window: 'soon' } }),
          target('b', { heartbeat: { intervals: [10, 10] } }),
          target('c', { heartbeat: { schedule: 'daily' } }),
          target('d', { heartbeat: { intervals: [1, 2, 3, 4] } }),
          target('e', { heartbeat: { every: 5 } }),
        ],
      });
    expect(bad).toThrow(ConfigError);
    let problems: string[] = [];
    try {
      bad();
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toContain('targets[4].heartbeat.every: unknown field');
    // Shape errors are reported first (the rest is checked once the shape is right).
    const rest = (() => {
      try {
        resolveConfig({
          global: { max_sessions: 4 },
          targets: [
            target('a', { heartbeat: { intervals: ['fast', 10], window: 'soon' } }),
            target('b', { heartbeat: { intervals: [10, 10] } }),
            target('c', { heartbeat: { schedule: 'daily' } }),
            target('d', { heartbeat: { intervals: [1, 2, 3, 4] } }),
          ],
        });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    })();
    expect(rest).toContain('targets[0].heartbeat.intervals[0]: "fast" is not a duration (write e.g. 10 (seconds), 10s, 500ms, 5m or 1h30m)');
    expect(rest).toContain('targets[0].heartbeat.window: "soon" is not a duration (write e.g. 10 (seconds), 10s, 500ms, 5m or 1h30m)');
    expect(rest).toContain('targets[1].heartbeat.intervals: 10 s appears twice');
    expect(rest).toContain('targets[2].heartbeat.schedule: not a valid cron expression "daily"');
    expect(rest).toContain('targets[3].heartbeat: a matrix needs 5 sessions at once, more than global.max_sessions (4)');
  });
});

describe('heartbeat config: tcp:N rows (kernel TCP keepalives)', () => {
  function problemsOf(raw: unknown): string[] {
    try {
      resolveConfig(raw);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.problems;
    }
  }

  it('a module or target lists tcp:N beside the SSH intervals; the budget counts them like SSH rows', () => {
    const cfg = resolveConfig({
      global: { max_sessions: 8 },
      modules: { proxied: { heartbeat: { intervals: [5, '20s', 'tcp:5', 'TCP:20', 'tcp:1m'], window: '1m' } } },
      targets: [target('a', { module: 'proxied' }), target('b', { module: 'proxied', heartbeat: { intervals: ['tcp:3'], include_no_heartbeat: false } })],
    });
    const hb = Object.fromEntries(cfg.targets.map((t) => [t.spec.name, t.settings.heartbeat!]));
    expect(hb.a).toMatchObject({ intervalsSeconds: [5, 20], tcpKeepaliveSeconds: [5, 20, 60] });
    expect(heartbeatSessions(hb.a)).toBe(6); // 2 SSH + 3 tcp: + the session without heartbeat
    expect(hb.b).toMatchObject({ intervalsSeconds: [], tcpKeepaliveSeconds: [3], includeNoHeartbeat: false });
    expect(heartbeatSessions(hb.b)).toBe(1);
    // A changed tcp: row is a changed target (its matrix restarts on reload).
    const other = resolveConfig({ global: { max_sessions: 8 }, modules: { proxied: { heartbeat: { intervals: [5, '20s', 'tcp:5', 'TCP:20', 'tcp:2m'], window: '1m' } } }, targets: [target('a', { module: 'proxied' })] });
    expect(other.targets[0].fingerprint).not.toBe(cfg.targets[0].fingerprint);
    // tcp: rows count against global.max_sessions: 5 rows + none = 6 > 5.
    expect(problemsOf({ global: { max_sessions: 5 }, targets: [target('a', { heartbeat: { intervals: [5, 10, 'tcp:5', 'tcp:10', 'tcp:15'] } })] })).toEqual([
      'targets[0].heartbeat: a matrix needs 6 sessions at once, more than global.max_sessions (5)',
    ]);
  });

  it('a bad tcp: row is a problem naming its field, in the words of `heartbeat --intervals` (one parser)', () => {
    const problems = problemsOf({
      targets: [
        target('a', { heartbeat: { intervals: [5, 'tcp:0', 'tcp:abc', 'tcp:', 'tcp:2.5', 'tcp:40000'] } }),
        target('b', { heartbeat: { intervals: ['tcp:5', 'tcp:5s'] } }),
        target('c', { heartbeat: { intervals: ['tcp:5', 5] } }),
      ],
    });
    // The CLI's words for the same entries, with its flag in place of the field.
    const cli = (entry: string) => {
      try {
        parseHeartbeatRows(entry);
      } catch (err) {
        return (err as Error).message.replace(/^--intervals/, '');
      }
      throw new Error(`${entry} parsed`);
    };
    expect(problems).toEqual([
      `targets[0].heartbeat.intervals[1]${cli('tcp:0')}`,
      `targets[0].heartbeat.intervals[2]${cli('tcp:abc')}`,
      `targets[0].heartbeat.intervals[3]${cli('tcp:')}`,
      `targets[0].heartbeat.intervals[4]${cli('tcp:2.5')}`,
      `targets[0].heartbeat.intervals[5]${cli('tcp:40000')}`,
      `targets[1].heartbeat.intervals${cli('tcp:5,tcp:5s')}`,
    ]);
    expect(problems[0]).toBe('targets[0].heartbeat.intervals[1]: "tcp:0": a TCP keepalive interval is a whole number of seconds from 1 to 32767 (the kernel\'s TCP_KEEPIDLE/TCP_KEEPINTVL take whole seconds)');
    expect(problems[5]).toBe('targets[1].heartbeat.intervals: tcp:5 s appears twice');
  });

  it('YAML `tcp: 5` (a mapping, not a row) gets a hint on how to write it', () => {
    expect(problemsOf(parseYaml('targets:\n  - name: a\n    host: 127.0.0.1\n    user: u\n    use_agent: true\n    host_key_sha256: "' + PIN + '"\n    heartbeat:\n      intervals: [5, tcp: 5]\n'))).toEqual([
      'targets[0].heartbeat.intervals[1]: must be seconds, a duration (15s, 2m) or tcp:N (kernel keepalives; write tcp:5 without a space, or quote it)',
    ]);
    // Unquoted `tcp:5` in a YAML list is the string "tcp:5".
    expect(resolveConfig(parseYaml('targets:\n  - name: a\n    host: 127.0.0.1\n    user: u\n    use_agent: true\n    host_key_sha256: "' + PIN + '"\n    heartbeat:\n      intervals: [5, tcp:5]\n')).targets[0].settings.heartbeat).toMatchObject({ intervalsSeconds: [5], tcpKeepaliveSeconds: [5] });
  });
});

describe('heartbeat matrix in the daemon', () => {
  const daemons: Daemon[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function make(raw: unknown, extra: Partial<ConstructorParameters<typeof Daemon>[0]> = {}) {
    const c = controllable();
    const cron = manualCron();
    const daemon = new Daemon({ config: resolveConfig(raw), measure: c.measure, heartbeat: c.heartbeat, cron: cron.cron, random: () => 0, clock: instantClock(), ...extra });
    daemons.push(daemon);
    return { daemon, ...c, ...cron };
  }

  it('first matrix right after the first measurement, cross-checked against its bracket; never both at once', async () => {
    const { daemon, measures, matrices, tick } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: HB, silent_deadline_floor_ms: 4500 })] });
    daemon.start();
    await flush();
    expect(measures).toHaveLength(1);
    expect(matrices).toHaveLength(0);
    expect(job(HEARTBEAT, daemon.snapshot('a')).queued).toBe(true);
    // While the measurement runs, an API matrix is refused (busy), not started beside it.
    expect(daemon.trigger('a', 'heartbeat')).toBe('busy');
    measures[0].finish(resultFor(measures[0].spec, 9, 11));
    await daemon.settled('a', 'measurement');
    await flush();
    expect(matrices).toHaveLength(1);
    const opts = matrices[0].opts;
    expect(opts).toMatchObject({ intervalsSeconds: [5, 20], windowSeconds: 60, countMax: 3, includeNoHeartbeat: true });
    // The target's own answer-deadline floor, and the daemon's one connect pacer (like the measurement's).
    expect(opts.silentDeadlineFloorMs).toBe(4500);
    expect(opts.connectPacer).toBe(daemon.budget.connectPacer);
    expect(measures[0].opts.connectPacer).toBe(daemon.budget.connectPacer);
    expect(measures[0].opts.silentDeadlineFloorMs).toBe(4500);
    expect(job(MEASUREMENT, daemon.snapshot('a')).running).toBeNull();
    expect(job(HEARTBEAT, daemon.snapshot('a')).running).not.toBeNull();
    // While the matrix runs: API measurement busy, a scheduled one queued behind it, matrix ticks skipped.
    expect(daemon.trigger('a', 'measurement')).toBe('busy');
    tick('0 */6 * * *');
    tick(HB.schedule);
    await flush();
    expect(measures).toHaveLength(1);
    expect(job(HEARTBEAT, daemon.snapshot('a')).counters.skipped).toBe(1);
    matrices[0].finish();
    await daemon.settled('a', 'heartbeat');
    await flush();
    // The queued measurement starts once the matrix is over.
    expect(measures).toHaveLength(2);
    const hb = HEARTBEAT.of(daemon.snapshot('a')!)!;
    expect(hb.running).toBeNull();
    expect(hb.latestOk!.result!.crossCheck!.timeout).toMatchObject({ lowerSeconds: 9, upperSeconds: 11 });
    // 5 s < 9 survives, 20 s > 11 dies, no heartbeat (60 s) dies: consistent with (9, 11].
    expect(hb.latestOk!.result!.crossCheck!.contradictions).toEqual([]);
    expect(job(HEARTBEAT, daemon.snapshot('a')).counters.runs).toBe(1);
  });

  it('shares the global session budget: a matrix reserves one session per interval (+1 without heartbeat)', async () => {
    // max 4 sessions: a's matrix (3) leaves 1, b's measurement needs 2 + 1 control = 3 and waits.
    const { daemon, measures, matrices } = make({
      global: { jitter_seconds: 0, max_sessions: 4, max_connects_per_minute: 2 },
      targets: [target('a', { heartbeat: HB }), target('b')],
    });
    daemon.start();
    await flush();
    // Both measure at start (3 + 3 > 4: b waits for a).
    expect(measures.map((m) => m.spec.name)).toEqual(['a']);
    measures[0].finish();
    await daemon.settled('a', 'measurement');
    await flush();
    // b's measurement got the budget first (it was queued); a's matrix waits behind it in FIFO order.
    expect(measures.map((m) => m.spec.name)).toEqual(['a', 'b']);
    expect(matrices).toHaveLength(0);
    expect(job(HEARTBEAT, daemon.snapshot('a')).running).not.toBeNull(); // waiting for budget
    measures[1].finish();
    await daemon.settled('b', 'measurement');
    await flush();
    expect(matrices).toHaveLength(1);
    expect(daemon.budget.inUse).toBe(3);
    expect(daemon.snapshot('a')!.sessionsOpen).toBe(3);
    // Its connects wait for the daemon's pacer (2 connects/min for everything), not for a share of it.
    expect(matrices[0].opts.connectPacer).toBe(daemon.budget.connectPacer);
    expect(daemon.budget.connectPacer.pacing).toEqual({ connectStaggerMs: 250, maxConnectsPerMinute: 2 });
    // b's next measurement waits while the matrix holds 3 of 4 sessions.
    expect(daemon.trigger('b', 'measurement')).toBe('started');
    await flush();
    expect(measures).toHaveLength(2);
    matrices[0].finish();
    await daemon.settled('a', 'heartbeat');
    await flush();
    expect(measures.map((m) => m.spec.name)).toEqual(['a', 'b', 'b']);
    expect(daemon.snapshot('a')!.sessionsOpen).toBe(0);
  });

  it('exports the matrix per interval, stores it, serves it at /api/targets/:name/heartbeat, and keeps it over a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-hb-'));
    dirs.push(dir);
    const historyFile = path.join(dir, 'h.sqlite');
    const raw = { global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: HB }), target('b')] };
    const first = make(raw, { historyFile });
    first.daemon.start();
    await flush();
    for (const m of first.measures) m.finish();
    await flush();
    first.matrices[0].finish();
    await first.daemon.settled('a', 'heartbeat');

    const app = await buildApp({ ...exporterOf(first.daemon), enableAdminApi: true });
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toContain(`${METRIC.heartbeatSurvived}{target="a",interval="5"} 1`);
    expect(body).toContain(`${METRIC.heartbeatSurvived}{target="a",interval="20"} 0`);
    expect(body).toContain(`${METRIC.heartbeatSurvived}{target="a",interval="none"} 0`);
    expect(body).toContain(`${METRIC.heartbeatSurvivedSeconds}{target="a",interval="5"} 60`);
    expect(body).toContain(`${METRIC.heartbeatUnanswered}{target="a",interval="20"} 1`);
    expect(body).not.toMatch(/idleprobe_heartbeat_survived\{target="b"/);
    // The exposition passes Prometheus' own linter (Debian package prometheus, in CI).
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20_000 });
    if (lint.error && process.env.IDLEPROBE_REQUIRE_LAB !== '1') console.warn(`promtool not run: ${lint.error.message}`);
    else expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);
    const api = await app.inject({ method: 'GET', url: '/api/targets/a/heartbeat' });
    expect(api.statusCode).toBe(200);
    const json = api.json();
    expect(json).toMatchObject({ target: 'a', intervalsSeconds: [5, 20], windowSeconds: 60, countMax: 3, running: null });
    expect(json.latest.status).toBe('ok');
    expect(json.latest.matrix.results.map((r: HeartbeatRunResult) => [r.intervalSeconds, r.survived])).toEqual([[5, true], [20, false], [null, false]]);
    expect(json.latest.matrix.highestSurvivingIntervalSeconds).toBe(5);
    const listed = (await app.inject({ method: 'GET', url: '/api/targets' })).json().targets.find((t: { name: string }) => t.name === 'a');
    expect(listed.heartbeat.latest).toMatchObject({ status: 'ok', highestSurvivingIntervalSeconds: 5, lowestFailingIntervalSeconds: 20 });
    const debug = (await app.inject({ method: 'GET', url: '/probe?target=a&debug=true' })).body;
    expect(debug).toContain('Latest heartbeat matrix started');
    expect(debug).toContain('  every 5 s: survived; heartbeats 12/12 answered');
    expect(debug).toContain('  every 20 s: died (silent) at 20 s; heartbeats 0/3 answered');
    expect(debug).toContain(`${METRIC.heartbeatSurvived}{target="a",interval="5"} 1`);
    const none = await app.inject({ method: 'GET', url: '/api/targets/b/heartbeat' });
    expect(none.statusCode).toBe(404);
    expect(none.json().error).toContain('has no heartbeat matrix configured');
    expect((await app.inject({ method: 'POST', url: '/api/heartbeat/b' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/api/heartbeat/nosuch' })).json().error).toBe('target "nosuch" is not configured');
    expect((await app.inject({ method: 'GET', url: '/api/targets/a/heartbeat', headers: {} })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/api/targets/a/heartbeat' })).statusCode).toBe(405);
    await app.close();
    await first.daemon.shutdown();

    // Restart on the same history: the matrix is exported at once, and no new one starts (it has one).
    const second = make(raw, { historyFile });
    second.daemon.start();
    await flush();
    expect(second.matrices).toHaveLength(0);
    const app2 = await buildApp({ ...exporterOf(second.daemon), enableAdminApi: true });
    expect((await app2.inject({ method: 'GET', url: '/metrics' })).body).toContain(`${METRIC.heartbeatSurvived}{target="a",interval="5"} 1`);
    // POST /api/heartbeat starts one now (202), a second POST gets 409.
    expect((await app2.inject({ method: 'POST', url: '/api/heartbeat/a' })).statusCode).toBe(202);
    const again = await app2.inject({ method: 'POST', url: '/api/heartbeat/a' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('a heartbeat matrix of a is already running');
    await flush();
    expect(second.matrices).toHaveLength(1);
    const measureBusy = await app2.inject({ method: 'POST', url: '/api/measure/a' });
    expect(measureBusy.statusCode).toBe(409);
    expect(measureBusy.json().error).toContain('a heartbeat matrix of a is running');
    await app2.close();
  });

  it('a reload removes the series of a dropped interval, of a switched-off matrix, and of a removed target', async () => {
    const { daemon, measures, matrices } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: HB }), target('c', { heartbeat: HB })] });
    const { renderer } = exporterOf(daemon);
    daemon.start();
    await flush();
    for (const m of measures) m.finish();
    await flush();
    for (const m of matrices) m.finish();
    await daemon.settled('a', 'heartbeat');
    await daemon.settled('c', 'heartbeat');
    const series = async () => [...(await renderer.render()).matchAll(/^idleprobe_heartbeat_survived\{target="([^"]+)",interval="([^"]+)"\}/gm)].map((m) => `${m[1]}/${m[2]}`).sort();
    expect(await series()).toEqual(['a/20', 'a/5', 'a/none', 'c/20', 'c/5', 'c/none']);
    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: { ...HB, intervals: [5], include_no_heartbeat: false } }), target('c')] }));
    expect(await series()).toEqual(['a/5']);
    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('c')] }));
    expect(await series()).toEqual([]);
  });

  it('tcp:N rows: the run gets them, the budget holds them, /metrics has interval="tcp:N" and idleprobe_tcp_keepalive_refreshes_path, the API kind rows', async () => {
    const TCP = { ...HB, intervals: [5, 20, 'tcp:5', 'tcp:20'] };
    const { daemon, measures, matrices } = make({ global: { jitter_seconds: 0 }, targets: [target('nat', { heartbeat: TCP }), target('proxy', { heartbeat: TCP }), target('ssh-only', { heartbeat: HB })] });
    const { renderer } = exporterOf(daemon);
    daemon.start();
    await flush();
    for (const m of measures) m.finish();
    await flush();
    expect(matrices.map((m) => m.spec.name).sort()).toEqual(['nat', 'proxy', 'ssh-only']);
    const run = (name: string) => matrices.find((m) => m.spec.name === name)!;
    expect(run('nat').opts).toMatchObject({ intervalsSeconds: [5, 20], tcpKeepaliveSeconds: [5, 20], includeNoHeartbeat: true });
    expect(run('ssh-only').opts.tcpKeepaliveSeconds).toEqual([]);
    // 2 SSH rows + 2 tcp: rows + the session without heartbeat.
    expect(daemon.snapshot('nat')!.sessionsOpen).toBe(5);
    // Before any matrix: no refreshes_path series (unknown is absent, never a 0).
    expect(await renderer.render()).not.toContain(METRIC.tcpKeepaliveRefreshesPath + '{');
    run('nat').finish(matrixFor('nat', run('nat').opts, 10, 'nat'));
    run('proxy').finish(matrixFor('proxy', run('proxy').opts, 10, 'proxy'));
    run('ssh-only').finish();
    for (const name of ['nat', 'proxy', 'ssh-only']) await daemon.settled(name, 'heartbeat');

    const body = await renderer.render();
    const series = (target: string) => [...body.matchAll(new RegExp(`^${METRIC.heartbeatSurvived}\\{target="${target}",interval="([^"]+)"\\} (\\d)$`, 'gm'))].map((m) => `${m[1]}=${m[2]}`);
    expect(series('nat')).toEqual(['5=1', '20=0', 'tcp:5=1', 'tcp:20=0', 'none=0']);
    expect(series('proxy')).toEqual(['5=1', '20=0', 'tcp:5=0', 'tcp:20=0', 'none=0']);
    expect(body).toContain(`${METRIC.heartbeatSurvivedSeconds}{target="proxy",interval="tcp:5"} 10`);
    expect(body).toContain(`${METRIC.heartbeatUnanswered}{target="proxy",interval="tcp:5"} 0`);
    expect(body).toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="nat"} 1`);
    expect(body).toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="proxy"} 0`);
    // A matrix without tcp: rows says nothing about kernel keepalives: no series.
    expect(body).not.toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="ssh-only"}`);
    expect(body).toMatch(new RegExp(`^# HELP ${METRIC.tcpKeepaliveRefreshesPath} .*Cached from the last survival matrix\\.$`, 'm'));
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20_000 });
    if (lint.error && process.env.IDLEPROBE_REQUIRE_LAB !== '1') console.warn(`promtool not run: ${lint.error.message}`);
    else expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);

    const app = await buildApp({ ...exporterOf(daemon), enableAdminApi: true });
    const json = (await app.inject({ method: 'GET', url: '/api/targets/proxy/heartbeat' })).json();
    expect(json).toMatchObject({ intervalsSeconds: [5, 20], tcpKeepaliveSeconds: [5, 20], rows: ['5', '20', 'tcp:5', 'tcp:20', 'none'] });
    expect(json.latest.matrix.results.map((r: { kind: string; row: string; intervalSeconds: number | null; cause: string | null }) => [r.kind, r.row, r.intervalSeconds, r.cause])).toEqual([
      ['ssh', '5', 5, null],
      ['ssh', '20', 20, 'silent'],
      ['tcp', 'tcp:5', 5, 'closed'],
      ['tcp', 'tcp:20', 20, 'closed'],
      ['ssh', 'none', null, 'silent'],
    ]);
    expect(json.latest.matrix.tcpKeepaliveRefreshesPath).toBe(false);
    expect(json.latest.matrix.tcpKeepaliveEvidence).toMatch(/tcp:5 was closed by the path after 10 s/);
    const listed = (await app.inject({ method: 'GET', url: '/api/targets' })).json().targets;
    expect(listed.find((t: { name: string }) => t.name === 'nat').heartbeat.latest.tcpKeepaliveRefreshesPath).toBe(true);
    expect(listed.find((t: { name: string }) => t.name === 'ssh-only').heartbeat.latest.tcpKeepaliveRefreshesPath).toBeNull();
    const debug = (await app.inject({ method: 'GET', url: '/probe?target=proxy&debug=true' })).body;
    expect(debug).toContain('  tcp:5 (kernel keepalives every 5 s): died (closed) at 10 s; heartbeats 0/0 answered');
    expect(debug).toMatch(/ {2}kernel TCP keepalives refresh the path: no \(tcp:5 was closed/);
    await app.close();

    // A reload that drops the tcp: rows drops their series and the verdict with them; `5` (SSH) stays.
    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('nat', { heartbeat: { ...HB, intervals: [5, 20, 'tcp:20'] } }), target('proxy', { heartbeat: HB }), target('ssh-only', { heartbeat: HB })] }));
    const after = await renderer.render();
    expect([...after.matchAll(new RegExp(`^${METRIC.heartbeatSurvived}\\{target="(nat|proxy)",interval="([^"]+)"\\}`, 'gm'))].map((m) => `${m[1]}/${m[2]}`)).toEqual([
      'nat/5', 'nat/20', 'nat/tcp:20', 'nat/none', 'proxy/5', 'proxy/20', 'proxy/none',
    ]);
    expect(after).toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="nat"} 1`);
    expect(after).not.toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="proxy"}`);
  });

  it('a reload that changes only the heartbeat setting keeps the measurement in flight; one that switches it on runs a matrix after it', async () => {
    const { daemon, measures, matrices } = make({ global: { jitter_seconds: 0 }, targets: [target('a')] });
    daemon.start();
    await flush();
    expect(measures).toHaveLength(1);
    const summary = await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: HB })] }));
    expect(summary.changed).toEqual(['a']);
    await flush();
    expect(measures[0].opts.signal?.aborted).toBe(false);
    expect(matrices).toHaveLength(0);
    measures[0].finish();
    await daemon.settled('a', 'measurement');
    await flush();
    expect(job(MEASUREMENT, daemon.snapshot('a')).counters.runs).toBe(1);
    expect(matrices).toHaveLength(1);
    // Changing the matrix again aborts the matrix in flight, and only it (the rule for every kind: daemon-job-kinds.test.ts).
    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: { ...HB, window: '2m' } })] }));
    expect(matrices[0].aborted).toBe(true);
    expect(measures).toHaveLength(1);
    expect(job(HEARTBEAT, daemon.snapshot('a')).settings).toMatchObject({ windowSeconds: 120 });
    // No matrix finished yet: the new setting runs one soon (after jitter), with the new window.
    await flush();
    expect(matrices).toHaveLength(2);
    expect(matrices[1].opts.windowSeconds).toBe(120);
  });

  it('a matrix that cannot connect is recorded as failed and exports nothing; shutdown aborts a running one', async () => {
    const { daemon, measures, matrices } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { heartbeat: HB })] });
    daemon.start();
    await flush();
    measures[0].finish();
    await flush();
    matrices[0].finish(new ConnectError('connect ECONNREFUSED 127.0.0.1:2222', 'unreachable'));
    await daemon.settled('a', 'heartbeat');
    const s = job(HEARTBEAT, daemon.snapshot('a'));
    expect(s.latest).toMatchObject({ status: 'failed', errorKind: 'unreachable' });
    expect(s.latestOk).toBeNull();
    expect(s.counters).toMatchObject({ runs: 1, failures: 1 });
    expect(await exporterOf(daemon).renderer.render()).not.toMatch(/^idleprobe_heartbeat_survived\{/m);
    expect(daemon.trigger('a', 'heartbeat')).toBe('started');
    await flush();
    expect(daemon.budget.inUse).toBe(3);
    await daemon.shutdown();
    expect(matrices[1].aborted).toBe(true);
    expect(daemon.budget.inUse).toBe(0);
  });

  it('without a matrix runner (or without heartbeat:) nothing is scheduled for it', async () => {
    const { daemon, exprs } = make({ global: { jitter_seconds: 0 }, targets: [target('a')] });
    daemon.start();
    expect(exprs()).toEqual(['0 */6 * * *']);
    expect(daemon.trigger('a', 'heartbeat')).toBe('not_configured');
    expect(HEARTBEAT.of(daemon.snapshot('a')!)).toBeNull();
  });
});

describe('aborting a matrix (daemon shutdown, reload)', () => {
  it('closes its sessions at once, even while a heartbeat waits for its CountMax answer deadline', async () => {
    // A black-holed path: a heartbeat is never answered; only close() ends the wait (as in the prober).
    const sessions: { closed: boolean; probes: number }[] = [];
    const opener = {
      open: async (): Promise<HeartbeatSession> => {
        const state = { closed: false, probes: 0 };
        sessions.push(state);
        let onClose: (() => void) | null = null;
        const last = Date.now();
        return {
          id: `s${sessions.length}`,
          lastActivityAt: () => last,
          isClosed: () => state.closed,
          serverHeartbeatSeconds: () => null,
          close: () => {
            state.closed = true;
            onClose?.();
          },
          probeOutbound: () => {
            state.probes++;
            probed();
            const at = Date.now();
            return new Promise((resolve) => {
              onClose = () => resolve({ outcome: 'silent', ageSeconds: (at - last) / 1000, at, detail: 'closed locally' });
            });
          },
        };
      },
    };
    const controller = new AbortController();
    const t0 = Date.now();
    let probed!: () => void;
    const firstProbe = new Promise<void>((resolve) => (probed = resolve));
    const run = runHeartbeatMatrix('blackhole', opener, {
      // One session only: no other session's abortable sleep ends the run for it (Promise.all fails fast).
      intervalsSeconds: [0.1],
      windowSeconds: 600,
      countMax: 3,
      includeNoHeartbeat: false,
      connectStaggerMs: 0,
      clock: realClock,
      signal: controller.signal,
    });
    const outcome = run.then(
      () => 'resolved',
      () => 'rejected',
    );
    // Let the 0.1 s session send its heartbeat and wait on it.
    await firstProbe;
    expect(sessions.some((s) => s.probes > 0)).toBe(true);
    controller.abort(new Error('shutdown'));
    // It settles (the runner discards an aborted run's result either way) instead of waiting minutes.
    expect(['resolved', 'rejected']).toContain(await outcome);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(sessions.every((s) => s.closed)).toBe(true);
  }, 10_000);
});

describe('heartbeat history table', () => {
  it('keeps matrices apart from measurements; pruning keeps each target\'s latest good matrix however old', () => {
    const h = new HistoryStore(':memory:');
    const day = 86400_000;
    const now = Date.now();
    const m = matrixFor('a', { intervalsSeconds: [5], tcpKeepaliveSeconds: [], windowSeconds: 60, countMax: 3, includeNoHeartbeat: false, connectStaggerMs: 0, signal: new AbortController().signal }, 10);
    const base = { target: 'a', startedAt: new Date(now).toISOString(), durationSeconds: 61 };
    h.recordHeartbeat({ ...base, status: 'ok', finishedAtMs: now - 200 * day, matrix: m });
    const keep = h.recordHeartbeat({ ...base, status: 'ok', finishedAtMs: now - 100 * day, matrix: m });
    const failed = h.recordHeartbeat({ ...base, status: 'failed', finishedAtMs: now - 95 * day, errorKind: 'unreachable', error: 'refused' });
    expect(h.latestHeartbeat('a').latest?.id).toBe(failed.id);
    expect(h.latestHeartbeat('a').latestOk?.matrix?.results[0]?.survived).toBe(true);
    expect(h.list('a')).toEqual([]); // not a measurement
    expect(h.prune(now - 90 * day)).toBe(2);
    expect(h.latestHeartbeat('a')).toMatchObject({ latest: { id: keep.id }, latestOk: { id: keep.id } });
    expect(h.latestHeartbeat('b')).toEqual({ latest: null, latestOk: null });
    h.close();
  });
});

