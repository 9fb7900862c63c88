// /metrics content from a real daemon core (injected measure function): names from metric-names.ts,
// HELP says cached, 0 for series that will exist, removed targets vanish, and promtool accepts it.
import { instantClock, settle } from '../support/settle.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn } from '../../src/daemon/runner.ts';
import { MetricsRenderer, buildTargetRegistry } from '../../src/exporter/metrics.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { IncrementalTargetText } from '../../src/exporter/incremental.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';
import { exporterOf } from '../support/exporter.ts';

const PIN = `SHA256:${'C'.repeat(43)}`;
const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });

function target(name: string) {
  return { name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN };
}

const measured = (name: string): MeasurementResult => ({
  target: name,
  startedAt: new Date().toISOString(),
  elapsedSeconds: 3,
  results: [
    { direction: 'outbound', verdict: 'timeout', lowerSeconds: 28, upperSeconds: 31, estimateSeconds: 29.5, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 3, maxConcurrentSessions: 3, elapsedMs: 3000, reason: null },
    { direction: 'inbound', verdict: 'masked', lowerSeconds: 14, upperSeconds: null, estimateSeconds: null, failureMode: null, probes: [], consistency: 1, sessionsOpened: 3, maxConcurrentSessions: 3, elapsedMs: 3000, reason: 'server heartbeats every 15 s' },
  ],
  serverHeartbeatSeconds: 15,
  recommendedHeartbeatSeconds: 20,
});

function promtoolCheck(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('exporter metrics', () => {
  const daemons: Daemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
  });

  it('renders every per-target metric with the shared names, passes promtool, and drops removed targets', async () => {
    // Each measurement takes 95 s on the daemon's clock; the session cap (8 + 1 control) lets one run at a time.
    const start = Date.UTC(2026, 0, 1);
    const clock = instantClock(start);
    // core sits behind a proxy: its idle connections are closed by the path itself (failure mode closed).
    const measure: MeasureFn = async (spec) => {
      clock.advance(95_000);
      const m = measured(spec.name);
      return spec.name === 'core' ? { ...m, results: m.results.map((r) => (r.direction === 'outbound' ? { ...r, failureMode: 'closed' as const } : r)) } : m;
    };
    const daemon = new Daemon({
      config: resolveConfig({ global: { jitter_seconds: 0, max_sessions: 9 }, targets: [target('edge'), target('core')] }),
      measure,
      cron: noCron,
      clock,
    });
    daemons.push(daemon);
    const { renderer } = exporterOf(daemon);
    // Before any result: counters at 0, label-per-state gauges at 0, no estimate yet.
    expect(await buildTargetRegistry(daemon.kinds, daemon.snapshots()).metrics()).not.toContain('target='); // not started yet
    daemon.start();
    const early = await renderer.render();
    expect(sample(early, METRIC.measurements, { target: 'edge' })).toBe(0);
    // Every failure mode is a series from the start, `closed` (a proxy closes idle connections) included.
    for (const mode of ['silent', 'reset', 'closed', 'none']) expect(sample(early, METRIC.failureMode, { target: 'edge', direction: 'outbound', mode }), mode).toBe(0);
    expect(sample(early, METRIC.timeoutEstimate, { target: 'edge' })).toBeUndefined();
    // Every startup measurement finished: the daemon has nothing left to do.
    await settle();
    expect(daemon.snapshots().every((s) => MEASUREMENT.of(s)?.latestOk)).toBe(true);

    const text = await renderer.render();
    const check = promtoolCheck(text);
    expect(check.out).toBe('');
    expect(check.status).toBe(0);

    expect(sample(text, METRIC.timeoutEstimate, { target: 'edge', direction: 'outbound' })).toBe(29.5);
    expect(sample(text, METRIC.timeoutLower, { target: 'edge', direction: 'outbound' })).toBe(28);
    expect(sample(text, METRIC.timeoutUpper, { target: 'edge', direction: 'outbound' })).toBe(31);
    expect(sample(text, METRIC.timeoutUpper, { target: 'edge', direction: 'inbound' })).toBeUndefined();
    expect(sample(text, METRIC.failureMode, { target: 'edge', direction: 'outbound', mode: 'silent' })).toBe(1);
    expect(sample(text, METRIC.failureMode, { target: 'edge', direction: 'outbound', mode: 'reset' })).toBe(0);
    expect(sample(text, METRIC.failureMode, { target: 'edge', direction: 'outbound', mode: 'closed' })).toBe(0);
    expect(sample(text, METRIC.failureMode, { target: 'edge', direction: 'inbound', mode: 'none' })).toBe(1);
    expect(sample(text, METRIC.failureMode, { target: 'core', direction: 'outbound', mode: 'closed' })).toBe(1);
    expect(sample(text, METRIC.failureMode, { target: 'core', direction: 'outbound', mode: 'silent' })).toBe(0);
    expect(text.split('\n').find((l) => l.startsWith(`# HELP ${METRIC.failureMode} `))).toMatch(/closed by the path itself/);
    expect(sample(text, METRIC.verdict, { target: 'edge', direction: 'inbound', verdict: 'masked' })).toBe(1);
    expect(sample(text, METRIC.maskedByServerHeartbeat, { target: 'edge' })).toBe(1);
    expect(sample(text, METRIC.serverHeartbeat, { target: 'edge' })).toBe(15);
    // The one policy (src/search/recommend.ts) over the stored bracket: half of the 28 s lower bound, not the record's own field.
    expect(sample(text, METRIC.recommendedHeartbeat, { target: 'edge' })).toBe(14);
    expect(sample(text, METRIC.measurements, { target: 'edge' })).toBe(1);
    expect(sample(text, METRIC.measurementFailures, { target: 'edge' })).toBe(0);
    expect(sample(text, METRIC.measurementsSkipped, { target: 'edge' })).toBe(0);
    expect(sample(text, METRIC.sentinelDeaths, { target: 'edge' })).toBe(0);
    expect(sample(text, METRIC.sessionsOpen, { target: 'edge' })).toBe(0);
    expect(sample(text, METRIC.targetUp, { target: 'edge' })).toBe(1);
    expect(sample(text, METRIC.configReloadSuccess, {})).toBe(1);
    // edge ran first (95 s), then core (95 s more).
    expect(sample(text, METRIC.lastMeasurementTimestamp, { target: 'edge' })).toBe((start + 95_000) / 1000);
    expect(sample(text, METRIC.lastMeasurementTimestamp, { target: 'core' })).toBe((start + 190_000) / 1000);
    expect(sample(text, METRIC.lastMeasurementDuration, { target: 'edge' })).toBe(95);
    expect(sample(text, METRIC.lastMeasurementDuration, { target: 'core' })).toBe(95);
    expect(text).toContain('process_cpu_user_seconds_total');
    // HELP of cached values says they are cached results of long measurements.
    const help = text.split('\n').find((l) => l.startsWith(`# HELP ${METRIC.timeoutEstimate} `))!;
    expect(help).toMatch(/Cached result .* takes minutes/);
    // Only the allowed label names appear.
    for (const line of text.split('\n')) {
      if (!line.startsWith('idleprobe_')) continue;
      const labels = [...line.matchAll(/([a-z_]+)="/g)].map((m) => m[1]);
      for (const l of labels) expect(['target', 'direction', 'mode', 'verdict']).toContain(l);
    }

    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('core')] }));
    const after = await renderer.render();
    expect(after).not.toContain('target="edge"');
    expect(sample(after, METRIC.timeoutEstimate, { target: 'core', direction: 'outbound' })).toBe(29.5);
  });

  it('caches the target part until the daemon changes', async () => {
    let n = 0;
    const source = { version: 1, reloadStatus: { successful: true, lastSuccessAt: 0, lastError: null }, kinds: () => [], passive: () => null, targets: () => (n++, []) };
    const r = new MetricsRenderer(source);
    await Promise.all([r.render(), r.render(), r.render()]);
    expect(n).toBe(1);
    source.version = 2;
    await r.render();
    expect(n).toBe(2);
  });

  it('reuses the encoded body while unchanged, refreshes process metrics in the background, re-renders at once on a change', async () => {
    let now = 0;
    let renders = 0;
    const source = { version: 1, reloadStatus: { successful: true, lastSuccessAt: 0, lastError: null }, kinds: () => [], passive: () => null, targets: () => (renders++, []) };
    const r = new MetricsRenderer(source, () => now);
    const a = await r.renderBody();
    expect(await r.renderBody()).toBe(a);
    now = 1500; // process metrics a second and a half old: served once more, refreshed behind it
    expect(await r.renderBody()).toBe(a);
    await r.refreshed(); // the refresh that scrape started, by its own promise (no sleep)
    const b = await r.renderBody();
    expect(b).not.toBe(a);
    expect(renders).toBe(1); // the target part was not rebuilt for a process-metrics refresh
    now = 10_000; // older than the stale limit: the scrape waits for a fresh body
    const late = r.renderBody();
    expect(await late).not.toBe(b);
    expect(renders).toBe(1);
    source.version = 2;
    const c = await r.renderBody();
    expect(c).not.toBe(b);
    expect(renders).toBe(2);
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(await c.gzip()).equals(c.body)).toBe(true);
  });

  it('incremental rendering equals a full rendering and re-renders only the targets that changed', async () => {
    const measure: MeasureFn = async (spec) => measured(spec.name);
    const daemon = new Daemon({
      config: resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a'), target('b'), target('c')] }),
      measure,
      cron: noCron,
      clock: instantClock(),
    });
    daemons.push(daemon);
    daemon.start();
    // Every startup measurement finished: the daemon has nothing left to do.
    await settle();
    expect(daemon.snapshots().every((s) => MEASUREMENT.of(s)?.latestOk)).toBe(true);
    const inc = new IncrementalTargetText((snaps) => buildTargetRegistry(daemon.kinds, snaps).metrics());
    const lines = (t: string) => t.split('\n').filter((l) => l !== '');
    const first = await inc.render(daemon.snapshots());
    expect(inc.lastRerendered).toBe(3);
    expect(lines(first)).toEqual(lines(await buildTargetRegistry(daemon.kinds, daemon.snapshots()).metrics()));
    expect(lines(await inc.render(daemon.snapshots()))).toEqual(lines(first));
    expect(inc.lastRerendered).toBe(0);

    expect(daemon.trigger('b', 'measurement')).toBe('started');
    await daemon.settled('b', 'measurement');
    const second = await inc.render(daemon.snapshots());
    expect(inc.lastRerendered).toBe(1);
    expect(lines(second)).toEqual(lines(await buildTargetRegistry(daemon.kinds, daemon.snapshots()).metrics()));
    expect(sample(second, METRIC.measurements, { target: 'b' })).toBe(2);

    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a'), target('c')] }));
    const third = await inc.render(daemon.snapshots());
    expect(third).not.toContain('target="b"');
    expect(lines(third)).toEqual(lines(await buildTargetRegistry(daemon.kinds, daemon.snapshots()).metrics()));
  });
});
