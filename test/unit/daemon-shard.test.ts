// `serve --shard i/n`: the FNV-1a hash (fixed vectors), the partition (every target in exactly one
// shard), the flag's validation through the real CLI, and a sharded daemon + HTTP app: only its own
// targets are measured and exported; another shard's target gets a 404 naming its owner.
import { instantClock, settle } from '../support/settle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fnv1a32, ownsTarget, parseShard, shardOf } from '../../src/daemon/shard.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn } from '../../src/daemon/runner.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { exporterOf } from '../support/exporter.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const PIN = `SHA256:${'S'.repeat(43)}`;
const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit vectors and hashes UTF-8 bytes', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    // Computed independently (Python over str.encode('utf-8')).
    expect(fnv1a32('bastion')).toBe(0x24330def);
    expect(fnv1a32('é')).toBe(0x1e9de8c1); // 2 bytes c3 a9, not the code unit 0xe9
    expect(fnv1a32('ключ')).toBe(0x95c4e9e1);
  });

  it('shardOf is the hash mod n', () => {
    expect(shardOf('bastion', 1)).toBe(0);
    expect(shardOf('bastion', 7)).toBe(0x24330def % 7);
    expect(shardOf('foobar', 3)).toBe(0xbf9cf968 % 3);
  });
});

describe('partition', () => {
  const names = Array.from({ length: 300 }, (_, i) => `site-${i % 7}.host-${i}`);

  it('for n = 1..5 every target is owned by exactly one shard, and no shard is left empty here', () => {
    for (let n = 1; n <= 5; n++) {
      const counts = new Array<number>(n).fill(0);
      for (const name of names) {
        const owners = Array.from({ length: n }, (_, i) => i).filter((i) => ownsTarget({ index: i, count: n }, name));
        expect(owners, `${name} with n=${n}`).toHaveLength(1);
        counts[owners[0]]++;
      }
      expect(counts.reduce((a, b) => a + b, 0)).toBe(names.length);
      // 300 names over ≤5 shards: a hash that spreads at all gives each shard a fair part.
      for (const c of counts) expect(c).toBeGreaterThan(names.length / n / 2);
    }
  });

  it('adding a target moves no other target', () => {
    const before = new Map(names.map((n) => [n, shardOf(n, 4)]));
    const after = [...names, 'new-target'];
    for (const n of after.slice(0, -1)) expect(shardOf(n, 4)).toBe(before.get(n));
  });
});

describe('parseShard', () => {
  it('accepts i/n with 0 ≤ i < n', () => {
    expect(parseShard('0/1')).toEqual({ index: 0, count: 1 });
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(parseShard(' 1 / 3 ')).toEqual({ index: 1, count: 3 });
  });

  it.each([
    ['3/3', /shard index must be below the count, 0 ≤ i < 3/],
    ['0/0', /shard count n must be at least 1/],
    ['-1/3', /not of the form i\/n/],
    ['1', /not of the form i\/n/],
    ['a/b', /not of the form i\/n/],
    ['1.5/3', /not of the form i\/n/],
    ['', /not of the form i\/n/],
  ])('rejects %j', (text, message) => {
    expect(() => parseShard(text)).toThrow(message);
  });
});

describe('serve --shard (real CLI)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-shard-cli-'));
  const config = path.join(dir, 'idleprobe.yml');
  fs.writeFileSync(
    config,
    `targets:\n${['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `  - { name: ${n}, host: 127.0.0.1, user: u, use_agent: true, host_key_sha256: "${PIN}" }\n`).join('')}`,
  );
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const serve = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(repo, 'bin', 'idleprobe.mjs'), 'serve', '--config', config, '--config.check', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('a bad value exits 2 with a message naming the flag', () => {
    const run = serve('--shard', '3/3');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--shard: the shard index must be below the count');
    const worse = serve('--shard=two/three');
    expect(worse.status).toBe(2);
    expect(worse.stderr).toContain('"two/three" is not of the form i/n');
  }, 60_000);

  it('--config.check validates every target and says how many this shard runs', () => {
    const own = ['a', 'b', 'c', 'd', 'e', 'f'].filter((n) => shardOf(n, 2) === 1).length;
    const run = serve('--shard=1/2');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`OK, 6 target(s) (shard 1/2 runs ${own} of them)`);
    expect(serve().stdout).toContain('OK, 6 target(s), 1 module(s)'); // default 0/1
  }, 60_000);
});

describe('a sharded daemon', () => {
  const names = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  const count = 3;
  const index = 1;
  const own = names.filter((n) => shardOf(n, count) === index);
  const foreign = names.find((n) => shardOf(n, count) !== index)!;
  const measured: string[] = [];
  let daemon: Daemon;
  let app: FastifyInstance;

  const measure: MeasureFn = async (spec) => {
    measured.push(spec.name);
    const r: MeasurementResult = {
      target: spec.name,
      startedAt: new Date().toISOString(),
      elapsedSeconds: 1,
      results: [
        { direction: 'outbound', verdict: 'timeout', lowerSeconds: 9, upperSeconds: 11, estimateSeconds: 10, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 1, reason: null },
      ],
      serverHeartbeatSeconds: null,
      recommendedHeartbeatSeconds: 5,
    };
    return r;
  };

  beforeAll(async () => {
    expect(own.length).toBeGreaterThan(0);
    const cfg = resolveConfig({
      global: { jitter_seconds: 0 },
      targets: names.map((name) => ({ name, host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'] })),
    });
    daemon = new Daemon({ config: cfg, measure, cron: noCron, shard: { index, count }, clock: instantClock() });
    app = await buildApp({ ...exporterOf(daemon), enableAdminApi: true, enableLifecycle: true });
    daemon.start();
    // Every startup measurement finished: the daemon has nothing left to do.
    await settle();
    expect(daemon.snapshots().every((s) => MEASUREMENT.of(s)?.latestOk)).toBe(true);
  });
  afterAll(async () => {
    await app.close();
    await daemon.shutdown();
  });

  it('schedules and measures only its own targets', () => {
    expect(daemon.targetNames().sort()).toEqual([...own].sort());
    expect([...new Set(measured)].sort()).toEqual([...own].sort());
  });

  it('exports only its own targets', async () => {
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const exported = new Set([...body.matchAll(new RegExp(`^${METRIC.measurements}\\{target="([^"]+)"`, 'gm'))].map((m) => m[1]));
    expect([...exported].sort()).toEqual([...own].sort());
    const api = (await app.inject({ method: 'GET', url: '/api/targets' })).json<{ targets: { name: string }[] }>();
    expect(api.targets.map((t) => t.name).sort()).toEqual([...own].sort());
  });

  it('/probe and /api/* for another shard\'s target: 404 saying which shard owns it', async () => {
    const owner = shardOf(foreign, count);
    const message = `target "${foreign}" belongs to shard ${owner}/${count}; this replica serves shard ${index}/${count}`;
    for (const [method, url] of [
      ['GET', `/probe?target=${foreign}`],
      ['GET', `/api/targets/${foreign}/history`],
      ['POST', `/api/measure/${foreign}`],
      ['GET', `/api/targets/${foreign}/heartbeat`],
      ['POST', `/api/heartbeat/${foreign}`],
    ] as const) {
      const r = await app.inject({ method, url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().error, url).toBe(message);
    }
    const unknown = await app.inject({ method: 'GET', url: '/probe?target=nosuch' });
    expect(unknown.json().error).toBe('target "nosuch" is not configured');
    expect(measured).not.toContain(foreign);
  });

  it('a reload keeps the partition: added targets of other shards are not started', async () => {
    const more = [...names, 'iota', 'kappa', 'lambda', 'mu'];
    const next = resolveConfig({
      global: { jitter_seconds: 0 },
      targets: more.map((name) => ({ name, host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'] })),
    });
    const summary = await daemon.applyConfig(next);
    const expected = more.filter((n) => shardOf(n, count) === index);
    expect(daemon.targetNames().sort()).toEqual([...expected].sort());
    expect(summary.added.sort()).toEqual(expected.filter((n) => !own.includes(n)).sort());
    expect(summary.removed).toEqual([]);
  });
});
