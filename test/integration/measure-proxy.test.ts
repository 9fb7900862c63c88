// Issue 23, item 1, through the real CLI: `measure` and `demo` against the built-in proxy load
// balancer (the demo middlebox in `close` / `close-reset` mode), which closes connections idle for
// T seconds itself. Every session it closes while idle is an observation of T.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { idleprobe, show } from './cli-harness.ts';

const T = 4;
/** ±max(1 s, 2 %): the search's default precision. */
const PRECISION_S = Math.max(1, 0.02 * T);

const labs: DemoLab[] = [];
let close: DemoLab;
let closeReset: DemoLab;
beforeAll(async () => {
  [close, closeReset] = await Promise.all([startDemoLab({ timeoutSeconds: T, mode: 'close' }), startDemoLab({ timeoutSeconds: T, mode: 'close-reset' })]);
  labs.push(close, closeReset);
}, 30_000);
afterAll(async () => {
  await Promise.all(labs.map((l) => l.close()));
}, 20_000);

const target = (l: DemoLab) => `${l.user}@${l.host}:${l.port}`;
const auth = (l: DemoLab) => ['-i', l.privateKeyPath, '--host-key', l.hostKeySha256];

function expectProxyFound(doc: MeasurementResult, failureMode: 'closed' | 'reset', directions: string[]): void {
  expect(doc.results.map((r) => r.direction).sort()).toEqual([...directions].sort());
  for (const r of doc.results) {
    expect(r.verdict, `${r.direction}: ${r.reason}`).toBe('timeout');
    expect(r.failureMode).toBe(failureMode);
    expect(Math.abs(r.estimateSeconds! - T), `${r.direction} estimate ${r.estimateSeconds}`).toBeLessThanOrEqual(PRECISION_S);
    // The failures are sessions the proxy ended while idle (listed with the probes, `idleEnd`), at
    // T — or under a probe that went out just then; at least two agree (below).
    const failures = r.probes.filter((p) => p.outcome === failureMode);
    expect(failures.filter((p) => p.idleEnd === true).length, JSON.stringify(r.probes)).toBeGreaterThanOrEqual(1);
    expect(r.probes.some((p) => p.outcome === 'silent' || p.outcome === 'server_closed')).toBe(false);
    for (const e of failures) {
      expect(e.ageSeconds).toBeGreaterThanOrEqual(T - 0.05);
      expect(e.ageSeconds).toBeLessThan(T + 0.8);
    }
  }
  // Both directions ride one connection through the proxy: the search confirms one direction's
  // bracket with the other's failures too (src/search/plan-shared.ts), so two agree over both.
  const all = doc.results.flatMap((r) => r.probes.filter((p) => p.outcome === failureMode));
  expect(all.length, JSON.stringify(doc.results.map((r) => r.probes))).toBeGreaterThanOrEqual(2);
}

describe.concurrent('measure through a proxy that closes idle connections (demo middlebox, CLI)', () => {
  it(`measure --json, both directions, proxy with FIN: T = ${T} s within ±max(1 s, 2 %), failure mode closed`, async () => {
    const run = await idleprobe(['measure', target(close), ...auth(close), '--min', '1', '--max', String(3 * T), '--json'], { timeoutMs: 90_000 });
    expect(run.code, show(run)).toBe(0);
    const doc = JSON.parse(run.stdout) as MeasurementResult;
    expectProxyFound(doc, 'closed', ['outbound', 'inbound']);
    expect(doc.recommendedHeartbeatSeconds).toBeGreaterThanOrEqual(1);
    expect(doc.recommendedHeartbeatSeconds).toBeLessThan(T);
  }, 100_000);

  it('measure --direction outbound (sessions without a waiter hold the idle command): closed, and the text summary names the proxy', async () => {
    const run = await idleprobe(['measure', target(close), ...auth(close), '--direction', 'outbound', '--min', '1', '--max', String(3 * T)], { timeoutMs: 90_000 });
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`outbound idle timeout ≈ \\d+(\\.\\d)? s \\(survived \\d+(\\.\\d)? s, failed at \\d+(\\.\\d)? s\\); idle flows are closed by the path itself \\(a proxy load balancer`));
    expect(run.stdout).toMatch(/kernel TCP keepalives do not count as activity there/);
    expect(run.stdout).toMatch(/Recommendation: heartbeats at most every \d+ s/);
  }, 100_000);

  it('measure --json, proxy with RST (like HAProxy option nolinger): failure mode reset, from idle ends', async () => {
    const run = await idleprobe(['measure', target(closeReset), ...auth(closeReset), '--min', '1', '--max', String(3 * T), '--json'], { timeoutMs: 90_000 });
    expect(run.code, show(run)).toBe(0);
    expectProxyFound(JSON.parse(run.stdout) as MeasurementResult, 'reset', ['outbound', 'inbound']);
  }, 100_000);

  it('`idleprobe demo --mode close` measures the proxy (both directions) and names it', async () => {
    const [json, text] = await Promise.all([
      idleprobe(['demo', '--mode', 'close', '--timeout', String(T), '--json'], { timeoutMs: 90_000 }),
      idleprobe(['demo', '--mode', 'close', '--timeout', String(T)], { timeoutMs: 90_000 }),
    ]);
    expect(json.code, show(json)).toBe(0);
    expectProxyFound(JSON.parse(json.stdout) as MeasurementResult, 'closed', ['outbound', 'inbound']);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`a proxy load balancer at 127\\.0\\.0\\.1:\\d+ that closes connections idle for more than ${T} s \\(FIN, whatever TCP keepalives do\\)`));
    expect(text.stdout).toMatch(/inbound +idle timeout ≈ .*closed by the path itself/);
  }, 100_000);
});
