// GET /api/targets is put together from one kept JSON text per target (src/exporter/targets-json.ts):
// byte for byte the whole rendering, re-encoding only the targets whose entry changed — by a run, a
// reload, or by time alone (a kind's next run time moving on at its cron tick).
import { instantClock, settle } from '../support/settle.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn } from '../../src/daemon/runner.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { targetJson } from '../../src/exporter/json.ts';
import { publicJson } from '../../src/exporter/public-text.ts';
import { TargetsJson } from '../../src/exporter/targets-json.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { exporterOf } from '../support/exporter.ts';

const PIN = `SHA256:${'E'.repeat(43)}`;
const target = (name: string) => ({ name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'] });

const measured = (name: string): MeasurementResult => ({
  target: name,
  startedAt: new Date().toISOString(),
  elapsedSeconds: 3,
  results: [
    // An error text with a path and a user: the public-text rules must hold per entry too.
    { direction: 'outbound', verdict: 'inconclusive', lowerSeconds: 5, upperSeconds: null, estimateSeconds: null, failureMode: null, probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 3000, reason: 'cannot read /etc/idleprobe/key of root@host' },
  ],
  serverHeartbeatSeconds: null,
  recommendedHeartbeatSeconds: null,
});

/** A hand-set cron: each target's next run time is what the test says. */
function settableCron(): { cron: CronScheduler; next: Map<string, number> } {
  const next = new Map<string, number>();
  let n = 0;
  const cron: CronScheduler = () => {
    const id = `t${n++}`;
    next.set(id, 1_000_000);
    return { stop() {}, nextRunAt: () => next.get(id) ?? null };
  };
  return { cron, next };
}

describe('GET /api/targets from kept per-target JSON', () => {
  const daemons: Daemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.shutdown();
  });

  it('equals the whole rendering and re-encodes only what changed', async () => {
    const { cron, next } = settableCron();
    const measure: MeasureFn = async (spec) => measured(spec.name);
    const daemon = new Daemon({ config: resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a'), target('b'), target('c')] }), measure, cron, clock: instantClock() });
    daemons.push(daemon);
    daemon.start();
    await settle();
    const whole = () => JSON.stringify(publicJson({ targets: daemon.snapshots().map(targetJson) }));
    const json = new TargetsJson();

    expect(json.render(daemon.snapshots())).toBe(whole());
    expect(json.lastEncoded).toBe(3);
    expect(whole()).toContain('<file>');
    expect(json.render(daemon.snapshots())).toBe(whole());
    expect(json.lastEncoded).toBe(0);

    // A run of b: only b's entry is encoded again.
    expect(daemon.trigger('b', 'measurement')).toBe('started');
    await daemon.settled('b', 'measurement');
    expect(json.render(daemon.snapshots())).toBe(whole());
    expect(json.lastEncoded).toBe(1);

    // Time alone: c's next run moves on (its cron ticked) without any change the daemon reports.
    const version = daemon.version;
    next.set('t2', 2_000_000);
    const body = json.render(daemon.snapshots());
    expect(daemon.version).toBe(version);
    expect(json.lastEncoded).toBe(1);
    expect(body).toBe(whole());
    expect(JSON.parse(body).targets[2].nextRunAt).toBe(new Date(2_000_000).toISOString());

    // A reload that removes b: gone from the body, the others kept.
    await daemon.applyConfig(resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a'), target('c')] }));
    const after = json.render(daemon.snapshots());
    expect(after).toBe(whole());
    expect(JSON.parse(after).targets.map((t: { name: string }) => t.name)).toEqual(['a', 'c']);
  });

  it('is what the route serves', async () => {
    const daemon = new Daemon({ config: resolveConfig({ global: { jitter_seconds: 0 }, targets: [target('a'), target('b')] }), measure: async (spec) => measured(spec.name), cron: settableCron().cron, clock: instantClock() });
    daemons.push(daemon);
    daemon.start();
    await settle();
    const app = await buildApp(exporterOf(daemon));
    try {
      const res = await app.inject({ method: 'GET', url: '/api/targets' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe(JSON.stringify(publicJson({ targets: daemon.snapshots().map(targetJson) })));
    } finally {
      await app.close();
    }
  });
});
