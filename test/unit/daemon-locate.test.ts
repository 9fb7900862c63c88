// Locate as a daemon job kind, with an injected locate function and measure function (the prober
// boundary), a hand-driven cron, the real budget, history, metrics and HTTP routes: config and its
// defaults, the run that follows a measurement which found a timeout (with that bracket), its own
// schedule, failures, the history's `locate` kind and a warm restart, metrics, API routes.
// Synchronised on the fakes' calls and the daemon's settled(), never on sleeps; time is the
// instant clock (test/support/settle.ts): a run that would need real waiting hangs and fails.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig, ConfigError } from '../../src/daemon/config.ts';
import { manualCron } from '../support/manual-cron.ts';
import type { DaemonLocateOptions } from '../../src/daemon/jobs/locate.ts';
import { ConnectError, type MeasurementResult } from '../../src/search/types.ts';
import type { MeasureOptions, TargetSpec } from '../../src/probe/target.ts';
import type { LocateDocument } from '../../src/probe/locate.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { instantClock } from '../support/settle.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT, LOCATE } from '../../src/read-model/kinds.ts';

const PIN = `SHA256:${'H'.repeat(43)}`;

function target(name: string, extra: Record<string, unknown> = {}) {
  return { name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, sessions: 2, directions: ['outbound'], ...extra };
}

function measured(spec: TargetSpec, bracket: [number, number] | null): MeasurementResult {
  const d = bracket
    ? { verdict: 'timeout' as const, lowerSeconds: bracket[0], upperSeconds: bracket[1], estimateSeconds: (bracket[0] + bracket[1]) / 2, failureMode: 'silent' as const }
    : { verdict: 'no_timeout_up_to_max' as const, lowerSeconds: 7440, upperSeconds: null, estimateSeconds: null, failureMode: null };
  return {
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 1,
    results: [{ direction: 'outbound', ...d, probes: [], consistency: 1, sessionsOpened: 2, maxConcurrentSessions: 2, elapsedMs: 1000, reason: null }],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: bracket ? Math.floor(bracket[0] / 2) : null,
  };
}

/** A two-box path: a firewall at hop 3 forgets after 10 s (it enforces the path timeout), a NAT at hop 5 after 25 s. */
function located(name: string): LocateDocument {
  return {
    target: name,
    elapsedSeconds: 14.2,
    pathTimeoutSeconds: 10,
    hops: [1, 2, 3, 4, 5].map((hop) => ({ hop, address: hop === 4 ? null : `198.18.${hop}.1` })),
    boxes: [
      { hop: 3, address: '198.18.3.1', lowerSeconds: 9.8, upperSeconds: 10.2, estimateSeconds: 10, failureMode: 'silent' },
      { hop: 5, address: '198.18.5.1', lowerSeconds: 24.5, upperSeconds: 25.5, estimateSeconds: 25, failureMode: 'reset' },
    ],
    hiddenBefore: 3,
  };
}

/** A proxy at hop 2 (TCP ends there) closes idle connections after ≈ 15 s: no box, only what no TTL locates. */
function proxied(name: string, u: { beyondHop: number; closesIdle: boolean }): LocateDocument {
  return {
    target: name,
    verdict: 'proxy_not_locatable',
    reason: 'a proxy that ignores TCP keepalives closes idle connections after ≈ 15.1 s; it cannot be located by TTL',
    elapsedSeconds: 21.4,
    pathTimeoutSeconds: 15.1,
    hops: [
      { hop: 1, address: '198.18.10.1' },
      { hop: 2, address: '198.18.13.2' },
    ],
    boxes: [],
    hiddenBefore: null,
    unlocatable: { ...u, tcpEndsAtHop: 2, tcpEndsAtAddress: '198.18.13.2', lowerSeconds: 14.8, upperSeconds: 15.1, estimateSeconds: 15.1, failureMode: u.closesIdle ? 'closed' : 'silent', foundAfterSeconds: 17.9 },
  };
}

/** Fakes whose calls the test finishes by hand; `next()` resolves at the next (or a pending) call. */
function calls<Opts, R>() {
  const list: { spec: TargetSpec; opts: Opts; finish(r: R | Error): void }[] = [];
  let seen = 0;
  const waiters: (() => void)[] = [];
  const fn = (spec: TargetSpec, opts: Opts & { signal?: AbortSignal }) =>
    new Promise<R>((resolve, reject) => {
      opts.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      list.push({ spec, opts, finish: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      waiters.splice(0).forEach((w) => w());
    });
  const next = async () => {
    const want = ++seen;
    while (list.length < want) await new Promise<void>((r) => waiters.push(r));
    return list[want - 1];
  };
  return { fn, list, next };
}

describe('locate config', () => {
  it('is off by default; locate: true takes the schema defaults; a target overrides its module', () => {
    const cfg = resolveConfig({
      modules: { loc: { locate: true, locate_max_hops: 12 } },
      targets: [target('plain'), target('on', { locate: true }), target('inherits', { module: 'loc' }), target('off', { module: 'loc', locate: false }), target('own', { module: 'loc', locate_schedule: '0 1 * * *' })],
    });
    const s = Object.fromEntries(cfg.targets.map((t) => [t.spec.name, t.settings]));
    expect(s.plain.locate).toBe(false);
    expect(s.on).toMatchObject({ locate: true, locateSchedule: '20 4 * * 0', locateMaxHops: 30 });
    expect(s.inherits).toMatchObject({ locate: true, locateMaxHops: 12 });
    expect(s.off.locate).toBe(false);
    expect(s.own).toMatchObject({ locate: true, locateMaxHops: 12, locateSchedule: '0 1 * * *' });
  });

  it('reports bad locate fields with their paths', () => {
    let err: ConfigError | null = null;
    try {
      resolveConfig({ targets: [target('a', { locate: 'yes', locate_max_hops: 0, locate_schedule: 'every day' })] });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.problems.join('\n');
    expect(text).toMatch(/targets\[0\]\.locate\b.*boolean/);
    expect(text).toMatch(/targets\[0\]\.locate_max_hops.*>= 1/);
  });

  it('a bad locate_schedule is named with its path', () => {
    expect(() => resolveConfig({ targets: [target('a', { locate: true, locate_schedule: 'every day' })] })).toThrow(/targets\[0\]\.locate_schedule: not a valid cron expression "every day"/);
  });
});

describe('locate in the daemon', () => {
  const daemons: Daemon[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function make(raw: unknown, extra: Partial<ConstructorParameters<typeof Daemon>[0]> = {}) {
    const m = calls<MeasureOptions, MeasurementResult>();
    const l = calls<DaemonLocateOptions, LocateDocument>();
    const cron = manualCron();
    const daemon = new Daemon({ config: resolveConfig(raw), measure: m.fn, locate: l.fn, cron: cron.cron, random: () => 0, clock: instantClock(), ...extra });
    daemons.push(daemon);
    return { daemon, measures: m, locates: l, ...cron };
  }

  async function scrape(daemon: Daemon) {
    const app = await buildApp({ ...exporterOf(daemon), enableAdminApi: true });
    return { app, metrics: async () => (await app.inject({ method: 'GET', url: '/metrics' })).body };
  }

  it('follows a measurement that found a timeout, from its bracket; metrics, API and history show the boxes', async () => {
    const { daemon, measures, locates, exprs } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { locate: true, silent_deadline_floor_ms: 1500 }), target('b')] });
    daemon.start();
    expect(exprs()).toContain('20 4 * * 0');
    const first = await measures.next();
    const other = await measures.next();
    other.finish(measured(other.spec, [9, 11]));
    expect(job(LOCATE, daemon.snapshot('a')).queued).toBe(true);
    // Never beside the measurement in flight.
    expect(daemon.trigger('a', 'locate')).toBe('busy');
    first.finish(measured(first.spec, [9, 11]));
    await daemon.settled('a', 'measurement');
    const run = await locates.next();
    expect(run.spec.name).toBe('a');
    // The target's own probe settings travel with it (the silent deadline's floor used to be dropped here).
    expect(run.opts).toMatchObject({ maxHops: 30, pathTimeout: { lowerSeconds: 9, upperSeconds: 11, estimateSeconds: 10, failureMode: 'silent' }, roundSessions: 30, silentDeadlineFloorMs: 1500 });
    expect(job(LOCATE, daemon.snapshot('a')).running).not.toBeNull();
    // b has no locate: its measurement found a timeout too, and nothing followed.
    expect(locates.list.map((c) => c.spec.name)).toEqual(['a']);
    expect(daemon.budget.inUse).toBe(31);

    const { app, metrics } = await scrape(daemon);
    expect(await metrics()).not.toContain(METRIC.middleboxHop + '{');
    run.finish(located('a'));
    await daemon.settled('a', 'locate');
    const body = await metrics();
    expect(body).toContain(`${METRIC.middleboxTimeout}{target="a",hop="3"} 10`);
    expect(body).toContain(`${METRIC.middleboxTimeoutLower}{target="a",hop="3"} 9.8`);
    expect(body).toContain(`${METRIC.middleboxTimeoutUpper}{target="a",hop="3"} 10.2`);
    expect(body).toContain(`${METRIC.middleboxTimeout}{target="a",hop="5"} 25`);
    expect(body).toContain(`${METRIC.middleboxHop}{target="a"} 3`);
    expect(body).not.toMatch(/idleprobe_middlebox_\w+\{target="b"/);

    const api = await app.inject({ method: 'GET', url: '/api/targets/a/locate' });
    expect(api.statusCode).toBe(200);
    expect(api.json()).toMatchObject({ target: 'a', enforcingHop: 3, running: null, queued: false, latest: { status: 'ok', document: located('a') } });
    const none = await app.inject({ method: 'GET', url: '/api/targets/b/locate' });
    expect(none.statusCode).toBe(404);
    expect(none.json().error).toBe('target "b" has no locate configured (add locate: to the target or its module)');
    expect((await app.inject({ method: 'POST', url: '/api/locate/b' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/targets/a/locate' })).statusCode).toBe(405);

    // Stored as kind 'locate' in the one runs table.
    const stored = daemon.history.latestRun<LocateDocument>('locate', 'a');
    expect(stored.latestOk!.result).toEqual(located('a'));
    expect(daemon.history.latestRun('locate', 'b').latest).toBeNull();
    await app.close();
  });

  it('no follow-up when the measurement found no timeout; the schedule and the API run it (cold when no bracket is known)', async () => {
    const { daemon, measures, locates, tick } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { locate: true })] });
    daemon.start();
    const m1 = await measures.next();
    m1.finish(measured(m1.spec, null));
    await daemon.settled('a', 'measurement');
    // The startup run (no locate result yet) still comes: cold, without a bracket.
    const cold = await locates.next();
    expect(cold.opts.pathTimeout).toBeUndefined();
    cold.finish(located('a'));
    await daemon.settled('a', 'locate');
    // Measured again, still no timeout: no locate follows.
    expect(daemon.trigger('a', 'measurement')).toBe('started');
    const m2 = await measures.next();
    m2.finish(measured(m2.spec, null));
    await daemon.settled('a', 'measurement');
    expect(locates.list).toHaveLength(1);
    expect(job(LOCATE, daemon.snapshot('a')).queued).toBe(false);
    // Its own schedule runs it; a measurement tick meanwhile queues behind it.
    tick('20 4 * * 0');
    const scheduled = await locates.next();
    tick('0 */6 * * *');
    expect(job(MEASUREMENT, daemon.snapshot('a')).running).toBeNull();
    scheduled.finish(located('a'));
    await daemon.settled('a', 'locate');
    const m3 = await measures.next();
    // A timeout now: the locate follows with this bracket.
    m3.finish(measured(m3.spec, [19, 21]));
    await daemon.settled('a', 'measurement');
    const follow = await locates.next();
    expect(follow.opts.pathTimeout).toMatchObject({ lowerSeconds: 19, upperSeconds: 21 });
    follow.finish(located('a'));
    await daemon.settled('a', 'locate');
    expect(locates.list).toHaveLength(3);

    // The admin API triggers one (POST /api/locate/:name, generated from JOB_KINDS).
    const { app } = await scrape(daemon);
    expect((await app.inject({ method: 'POST', url: '/api/locate/a' })).statusCode).toBe(202);
    const viaApi = await locates.next();
    expect((await app.inject({ method: 'POST', url: '/api/locate/a' })).statusCode).toBe(409);
    viaApi.finish(located('a'));
    await daemon.settled('a', 'locate');
    await app.close();
  });

  it('a failed run is recorded with its error kind and keeps the last good boxes exported', async () => {
    const { daemon, measures, locates } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { locate: true })] });
    daemon.start();
    const m1 = await measures.next();
    m1.finish(measured(m1.spec, [9, 11]));
    await daemon.settled('a', 'measurement');
    const ok = await locates.next();
    ok.finish(located('a'));
    await daemon.settled('a', 'locate');
    expect(daemon.trigger('a', 'locate')).toBe('started');
    const bad = await locates.next();
    bad.finish(new ConnectError('connect ECONNREFUSED 127.0.0.1:2222', 'unreachable'));
    await daemon.settled('a', 'locate');
    const { app, metrics } = await scrape(daemon);
    const api = (await app.inject({ method: 'GET', url: '/api/targets/a/locate' })).json();
    expect(api.lastAttempt).toMatchObject({ status: 'failed', errorKind: 'unreachable', error: 'connect ECONNREFUSED 127.0.0.1:2222', document: null });
    expect(api.latest.status).toBe('ok');
    expect(api.enforcingHop).toBe(3);
    expect(await metrics()).toContain(`${METRIC.middleboxHop}{target="a"} 3`);
    await app.close();
  });

  // Issue 23 item 4: a proxy is not a hop. Its run names no box, so there is no enforcing hop (never
  // hop 1 by default); what it measured is its own family, labelled by kind.
  it('a proxy that no TTL locates: no idleprobe_middlebox_hop, its timeout as idleprobe_middlebox_unlocatable_timeout_seconds{kind="proxy"}', async () => {
    const { daemon, measures, locates } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { locate: true }), target('b', { locate: true })] });
    daemon.start();
    for (const m of [await measures.next(), await measures.next()]) m.finish(measured(m.spec, [14.8, 15.1]));
    const runs = [await locates.next(), await locates.next()];
    const byName = (n: string) => runs.find((r) => r.spec.name === n)!;
    byName('a').finish(proxied('a', { beyondHop: 0, closesIdle: true }));
    // b: a 5 s NAT at hop 1, then a proxy beyond it — the NAT enforces the path timeout.
    byName('b').finish({ ...proxied('b', { beyondHop: 1, closesIdle: true }), boxes: [{ hop: 1, address: '198.18.10.1', lowerSeconds: 4.8, upperSeconds: 5.2, estimateSeconds: 5, failureMode: 'silent', foundAfterSeconds: 9 }], hiddenBefore: 1, verdict: 'located' });
    await daemon.settled('a', 'locate');
    await daemon.settled('b', 'locate');
    const { app, metrics } = await scrape(daemon);
    const body = await metrics();
    expect(body).not.toContain(`${METRIC.middleboxHop}{target="a"}`);
    expect(body).not.toMatch(/idleprobe_middlebox_timeout_seconds\{target="a"/);
    expect(body).toContain(`${METRIC.middleboxUnlocatableTimeout}{target="a",kind="proxy"} 15.1`);
    expect(body).toContain(`${METRIC.middleboxHop}{target="b"} 1`);
    expect(body).toContain(`${METRIC.middleboxUnlocatableTimeout}{target="b",kind="proxy"} 15.1`);
    expect(body).toMatch(/# HELP idleprobe_middlebox_unlocatable_timeout_seconds .*kind="proxy" when the far end closed idle sessions on its own/);
    const api = (await app.inject({ method: 'GET', url: '/api/targets/a/locate' })).json();
    expect(api.enforcingHop).toBeNull();
    expect(api.latest.document).toMatchObject({ verdict: 'proxy_not_locatable', boxes: [], unlocatable: { tcpEndsAtHop: 2, closesIdle: true } });
    await app.close();
  });

  it('every hop died on the next probe (not closed while idle): kind="unknown", still no hop', async () => {
    const { daemon, measures, locates } = make({ global: { jitter_seconds: 0 }, targets: [target('a', { locate: true })] });
    daemon.start();
    const m = await measures.next();
    m.finish(measured(m.spec, [11.9, 12.4]));
    (await locates.next()).finish({ ...proxied('a', { beyondHop: 0, closesIdle: false }), verdict: 'every_hop_died' });
    await daemon.settled('a', 'locate');
    const { app, metrics } = await scrape(daemon);
    const body = await metrics();
    expect(body).toContain(`${METRIC.middleboxUnlocatableTimeout}{target="a",kind="unknown"} 15.1`);
    expect(body).not.toContain(`${METRIC.middleboxHop}{`);
    await app.close();
  });

  it('warm restart: the stored result is exported without a new run; switching locate off removes the series', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-locate-'));
    dirs.push(dir);
    const file = path.join(dir, 'history.sqlite');
    const raw = { global: { jitter_seconds: 0 }, targets: [target('a', { locate: true })] };
    const first = make(raw, { history: new HistoryStore(file) });
    first.daemon.start();
    const m1 = await first.measures.next();
    m1.finish(measured(m1.spec, [9, 11]));
    await first.daemon.settled('a', 'measurement');
    const run = await first.locates.next();
    run.finish(located('a'));
    await first.daemon.settled('a', 'locate');
    await first.daemon.shutdown();

    const second = make(raw, { history: new HistoryStore(file) });
    second.daemon.start();
    const { app, metrics } = await scrape(second.daemon);
    expect(await metrics()).toContain(`${METRIC.middleboxHop}{target="a"} 3`);
    expect(second.locates.list).toHaveLength(0);
    expect(second.measures.list).toHaveLength(0);
    const off = { ...raw, targets: [target('a', { locate: false })] };
    expect(await second.daemon.applyConfig(resolveConfig(off))).toMatchObject({ changed: ['a'] });
    expect(await metrics()).not.toContain(`${METRIC.middleboxHop}{`);
    expect((await app.inject({ method: 'GET', url: '/api/targets/a/locate' })).statusCode).toBe(404);
    await app.close();
  });
});
