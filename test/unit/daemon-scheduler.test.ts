// The daemon core with an injected measure function and a hand-driven cron: mutual exclusion,
// skipped runs, warm start (prior), failures, and reload semantics (unchanged targets keep their
// in-flight measurement, removed ones vanish, a bad file keeps the old config).
import { instantClock, settle } from '../support/settle.ts';
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig, type DaemonConfig } from '../../src/daemon/config.ts';
import type { MeasureFn } from '../../src/daemon/runner.ts';
import { manualCron } from '../support/manual-cron.ts';
import { ConnectError, type MeasurementResult } from '../../src/search/types.ts';
import type { MeasureOptions, TargetSpec } from '../../src/probe/target.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';

const PIN = `SHA256:${'A'.repeat(43)}`;

function configYamlTargets(names: string[], extra: Record<string, unknown> = {}): unknown {
  return {
    global: { jitter_seconds: 0, max_sessions: 20 },
    targets: names.map((name) => ({ name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 4, ...extra })),
  };
}

function resultFor(spec: TargetSpec, estimate: number): MeasurementResult {
  return {
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 1,
    results: [
      {
        direction: 'outbound',
        verdict: 'timeout',
        lowerSeconds: estimate - 1,
        upperSeconds: estimate + 1,
        estimateSeconds: estimate,
        failureMode: 'silent',
        probes: [{ ageSeconds: estimate + 1, outcome: 'silent', at: new Date().toISOString(), sessionId: 's1' }],
        consistency: 1,
        sessionsOpened: 2,
        maxConcurrentSessions: 2,
        elapsedMs: 1000,
        reason: null,
      },
    ],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: Math.floor(estimate / 2),
  };
}

/** A measure function whose runs finish when the test says so. */
function controllableMeasure() {
  const calls: { spec: TargetSpec; opts: MeasureOptions; finish(r?: MeasurementResult | Error): void }[] = [];
  const measure: MeasureFn = (spec, opts) =>
    new Promise<MeasurementResult>((resolve, reject) => {
      opts.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      calls.push({
        spec,
        opts,
        finish: (r) => (r instanceof Error ? reject(r) : resolve(r ?? resultFor(spec, 30))),
      });
    });
  return { measure, calls };
}

// Until the daemon has nothing left to do (instant clock injected below): no wall-clock sleep.
const flush = settle;

describe('daemon scheduler', () => {
  const daemons: Daemon[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function make(cfg: DaemonConfig, extra: Partial<ConstructorParameters<typeof Daemon>[0]> = {}) {
    const m = controllableMeasure();
    const c = manualCron();
    const daemon = new Daemon({ config: cfg, measure: m.measure, cron: c.cron, random: () => 0, clock: instantClock(), ...extra });
    daemons.push(daemon);
    return { daemon, ...m, ...c };
  }

  it('measures at start when there is no history, and never twice at once (ticks while running are skipped)', async () => {
    const { daemon, calls, tickAll } = make(resolveConfig(configYamlTargets(['a'])));
    daemon.start();
    await flush();
    expect(calls).toHaveLength(1);
    expect(job(MEASUREMENT, daemon.snapshot('a')).running).not.toBeNull();
    tickAll();
    tickAll();
    expect(daemon.trigger('a', 'measurement')).toBe('already_running');
    await flush();
    expect(calls).toHaveLength(1);
    expect(job(MEASUREMENT, daemon.snapshot('a')).counters.skipped).toBe(2);
    calls[0].finish();
    await daemon.settled('a', 'measurement');
    const s = job(MEASUREMENT, daemon.snapshot('a'));
    expect(s.running).toBeNull();
    expect(s.counters.runs).toBe(1);
    expect(s.latestOk?.result?.results[0].estimateSeconds).toBe(30);
    expect(s.reachable).toBe(1);
    // Next tick after the run finished starts a new one, with the last result as the prior.
    tickAll();
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1].opts.prior?.outbound).toMatchObject({ lowerSeconds: 29, upperSeconds: 31 });
  });

  it('passes the target\'s settings unchanged, reserves them plus the control session, and hands over the daemon\'s connect pacer', async () => {
    const { daemon, calls } = make(resolveConfig(configYamlTargets(['a'])));
    daemon.start();
    await flush();
    // 4 probe sessions + 1 control reserved out of 20; the search paces itself within the global
    // figures and every connect waits for the one pacer of the daemon.
    expect(calls[0].opts.sessions).toBe(4);
    expect(calls[0].opts).toMatchObject({ minSeconds: 5, maxSeconds: 7440, precisionAbsSeconds: 1, precisionRelative: 0.02, silentDeadlineFloorMs: 3000, connectTimeoutMs: 10000 });
    expect(calls[0].opts.maxConnectsPerMinute).toBe(120);
    expect(calls[0].opts.connectStaggerMs).toBe(250);
    expect(calls[0].opts.connectPacer).toBe(daemon.budget.connectPacer);
    expect(daemon.budget.inUse).toBe(5);
    calls[0].finish();
    await daemon.settled('a', 'measurement');
    expect(daemon.budget.inUse).toBe(0);
  });

  it('global session cap queues measurements instead of exceeding it', async () => {
    const cfg = resolveConfig({ ...(configYamlTargets(['a', 'b', 'c']) as object), global: { jitter_seconds: 0, max_sessions: 10 } });
    const { daemon, calls } = make(cfg);
    daemon.start();
    await flush();
    // Each run reserves 4 probe sessions + 1 control: a and b fit in 10, c waits its turn.
    expect(calls.map((c) => c.spec.name)).toEqual(['a', 'b']);
    expect(daemon.budget.inUse).toBe(10);
    expect(job(MEASUREMENT, daemon.snapshot('c')).running).not.toBeNull();
    calls[0].finish();
    await daemon.settled('a', 'measurement');
    await flush();
    expect(calls.map((c) => c.spec.name)).toEqual(['a', 'b', 'c']);
    expect(daemon.budget.inUse).toBe(10);
  });

  it('counts failures, keeps the last good result and marks the target down on connect errors', async () => {
    const { daemon, calls, tickAll } = make(resolveConfig(configYamlTargets(['a'])));
    daemon.start();
    await flush();
    calls[0].finish();
    await daemon.settled('a', 'measurement');
    tickAll();
    await flush();
    calls[1].finish(new ConnectError('127.0.0.1:2222: connection refused', 'unreachable'));
    await daemon.settled('a', 'measurement');
    const s = job(MEASUREMENT, daemon.snapshot('a'));
    expect(s.counters).toMatchObject({ runs: 2, failures: 1 });
    expect(s.reachable).toBe(0);
    expect(s.latest?.status).toBe('failed');
    expect(s.latest?.errorKind).toBe('unreachable');
    expect(s.latestOk?.result?.results[0].estimateSeconds).toBe(30);
  });

  it('warm start: history from a previous run is loaded, no immediate measurement, prior passed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-sched-'));
    dirs.push(dir);
    const historyFile = path.join(dir, 'h.sqlite');
    const first = make(resolveConfig(configYamlTargets(['a'])), { historyFile });
    first.daemon.start();
    await flush();
    first.calls[0].finish(resultFor(first.calls[0].spec, 42));
    await first.daemon.settled('a', 'measurement');
    await first.daemon.shutdown();

    const second = make(resolveConfig(configYamlTargets(['a'])), { historyFile });
    second.daemon.start();
    await flush();
    expect(second.calls).toHaveLength(0);
    expect(job(MEASUREMENT, second.daemon.snapshot('a')).latestOk?.result?.results[0].estimateSeconds).toBe(42);
    second.tickAll();
    await flush();
    expect(second.calls[0].opts.prior?.outbound).toMatchObject({ lowerSeconds: 41, upperSeconds: 43 });
  });

  it('reload: unchanged target keeps its in-flight run, changed restarts, removed vanishes, added starts', async () => {
    const { daemon, calls } = make(resolveConfig(configYamlTargets(['keep', 'change', 'drop'])));
    daemon.start();
    await flush();
    expect(calls.map((c) => c.spec.name).sort()).toEqual(['change', 'drop', 'keep']);
    const next = resolveConfig({
      global: { jitter_seconds: 0, max_sessions: 20 },
      targets: [
        { name: 'keep', host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 4 },
        { name: 'change', host: '127.0.0.1', port: 2223, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 4 },
        { name: 'new', host: '127.0.0.1', port: 2224, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 4 },
      ],
    });
    const summary = await daemon.applyConfig(next);
    expect(summary).toMatchObject({ unchanged: ['keep'], changed: ['change'], removed: ['drop'], added: ['new'] });
    await flush();
    expect(daemon.targetNames().sort()).toEqual(['change', 'keep', 'new']);
    expect(daemon.snapshot('drop')).toBeNull();
    // keep's first run is still the one in flight; change and new started fresh runs.
    expect(job(MEASUREMENT, daemon.snapshot('keep')).running).not.toBeNull();
    const keepCall = calls.find((c) => c.spec.name === 'keep')!;
    expect(keepCall.opts.signal?.aborted).toBe(false);
    expect(calls.find((c) => c.spec.name === 'drop')!.opts.signal?.aborted).toBe(true);
    expect(calls.filter((c) => c.spec.name === 'change')).toHaveLength(2);
    expect(calls.filter((c) => c.spec.name === 'change')[1].spec.port).toBe(2223);
    keepCall.finish();
    await daemon.settled('keep', 'measurement');
    expect(job(MEASUREMENT, daemon.snapshot('keep')).counters.runs).toBe(1);
  });

  it('reload from a bad file keeps the running config and reports the failure', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-sched-'));
    dirs.push(dir);
    const file = path.join(dir, 'c.yml');
    fs.writeFileSync(file, `targets:\n  - name: a\n    host: 127.0.0.1\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n`);
    const { loadConfigFile } = await import('../../src/daemon/config.ts');
    const { daemon } = make(loadConfigFile(file), { configFile: file });
    daemon.start();
    fs.writeFileSync(file, `targets:\n  - name: a\n    host: 127.0.0.1\n    port: 99999\n    user: u\n`);
    const r = await daemon.reload();
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('targets[0].port: must be <= 65535');
    expect(daemon.reloadStatus.successful).toBe(false);
    expect(daemon.targetNames()).toEqual(['a']);
    fs.writeFileSync(file, `targets:\n  - name: b\n    host: 127.0.0.1\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n`);
    const ok = await daemon.reload();
    expect(ok.ok).toBe(true);
    expect(daemon.reloadStatus.successful).toBe(true);
    expect(daemon.targetNames()).toEqual(['b']);
  });

  it('shutdown aborts measurements in flight and stops every schedule', async () => {
    const { daemon, calls, active } = make(resolveConfig(configYamlTargets(['a', 'b'])));
    daemon.start();
    await flush();
    expect(active()).toBe(2);
    const t0 = Date.now();
    await daemon.shutdown();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(calls.every((c) => c.opts.signal?.aborted)).toBe(true);
    expect(active()).toBe(0);
    expect(daemon.ready).toBe(false);
  });
});
