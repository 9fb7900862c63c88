// The real daemon (`node bin/idleprobe.mjs serve`, a child process) against the demo lab (in-process
// SSH server + userspace middlebox with a 3 s idle timeout, itself in another child process),
// scraped over HTTP: promtool accepts the scrape, the bracket contains 3 s; SIGHUP and POST reloads
// (including a bad file); SIGTERM during a measurement exits within 5 s; kill -9 during a
// measurement loses no finished result and the restarted service is up with its history.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { startDaemon, startLabProcess, stopChildren, stopDaemon, waitFor, type LabFacts } from './daemon-harness.ts';
import { expectPromtoolClean, labTargetYaml, sample, useDaemonLab } from './daemon-lab-fixture.ts';

const MIDDLEBOX_TIMEOUT_S = 3;

function configText(lab: LabFacts, names: string[], moduleExtra = ''): string {
  return `global:
  jitter_seconds: 0
  max_sessions: 32
modules:
  lab:
    min_seconds: 1
    max_seconds: 10
    sessions: 4
    # Once a year: the tests drive runs by startup and POST /api/measure.
    schedule: "0 0 1 1 *"
${moduleExtra}targets:
${names
  .map(
    (n) => `  - name: ${n}
${labTargetYaml(lab)}    module: lab
`,
  )
  .join('')}`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read many documents' fields; `any` like JSON.parse
async function getJson(url: string): Promise<any> {
  const r = await fetch(url);
  return r.json();
}

describe('idleprobe serve against the demo lab', () => {
  const fixture = useDaemonLab('idleprobe-serve-it-', MIDDLEBOX_TIMEOUT_S, 'reset', (f) => fs.writeFileSync(f.configFile, configText(f.lab, ['demo'])));
  const { dir, configFile, historyFile } = fixture;

  it('measures at start, serves a promtool-clean scrape with the middlebox bracket, reloads, and stops within 5 s', async () => {
    const d = await startDaemon(configFile, historyFile);
    const targets = await waitFor('the first measurement', async () => {
      const t = await getJson(`${d.url}/api/targets`);
      return t.targets[0]?.latest ? t : null;
    }, 90);
    const demo = targets.targets[0];
    expect(demo.name).toBe('demo');
    expect(demo.up).toBe(1);
    // The module's inbound_method (default signal) is what ran, and the API says so.
    const inbound = demo.latest.results.find((r: { direction: string }) => r.direction === 'inbound');
    expect(inbound.inboundMethod).toBe('signal');

    const scrape = await (await fetch(`${d.url}/metrics`)).text();
    expectPromtoolClean(scrape);
    for (const direction of ['outbound', 'inbound']) {
      const lower = sample(scrape, METRIC.timeoutLower, `target="demo",direction="${direction}"`)!;
      const upper = sample(scrape, METRIC.timeoutUpper, `target="demo",direction="${direction}"`)!;
      // The middlebox forgets a flow after 3 s idle: the bracket must contain it, within the 1 s precision (+ slack).
      expect(lower).toBeLessThanOrEqual(MIDDLEBOX_TIMEOUT_S + 0.5);
      expect(upper).toBeGreaterThanOrEqual(MIDDLEBOX_TIMEOUT_S - 0.5);
      expect(upper - lower).toBeLessThanOrEqual(2);
      expect(sample(scrape, METRIC.failureMode, `target="demo",direction="${direction}",mode="reset"`)).toBe(1);
    }
    expect(sample(scrape, METRIC.measurements, 'target="demo"')).toBe(1);
    expect(sample(scrape, METRIC.targetUp, 'target="demo"')).toBe(1);

    // /probe for the configured target, and a 404 for anything else.
    const probe = await fetch(`${d.url}/probe?target=demo&module=lab`);
    expect(probe.status).toBe(200);
    expect(await probe.text()).toContain(`${METRIC.timeoutEstimate}{target="demo",direction="outbound"}`);
    expect((await fetch(`${d.url}/probe?target=198.18.0.1`)).status).toBe(404);

    // SIGHUP reload adds a target; POST reload with a bad file keeps the old config and sets the gauge to 0.
    fs.writeFileSync(configFile, configText(fixture.lab, ['demo', 'demo-b']));
    d.proc.kill('SIGHUP');
    await waitFor('demo-b after SIGHUP', async () => (await getJson(`${d.url}/api/targets`)).targets.some((t: { name: string }) => t.name === 'demo-b'), 20);
    fs.writeFileSync(configFile, 'targets:\n  - name: demo\n    host: 127.0.0.1\n    port: 70000\n    user: x\n');
    const bad = await fetch(`${d.url}/-/reload`, { method: 'POST' });
    expect(bad.status).toBe(500);
    // The body names no file or key path; the log does.
    expect(((await bad.json()) as { error: string }).error).toMatch(/^config reload failed; the running config stays/);
    await waitFor('the reload error in the log', async () => d.stderr.some((l) => l.includes('targets[0].port: must be <= 65535')), 10);
    // The same failure again and again (an authorised client in a loop) is one log line a minute.
    for (let i = 0; i < 30; i++) expect((await fetch(`${d.url}/-/reload`, { method: 'POST' })).status).toBe(500);
    expect(d.stderr.filter((l) => l.includes('config reload failed')).length).toBe(1);
    const afterBad = await (await fetch(`${d.url}/metrics`)).text();
    expect(sample(afterBad, METRIC.configReloadSuccess, '')).toBe(0);
    expect(afterBad).toContain('target="demo-b"');
    expect((await fetch(`${d.url}/-/reload`)).status).toBe(405);
    fs.writeFileSync(configFile, configText(fixture.lab, ['demo']));
    expect((await fetch(`${d.url}/-/reload`, { method: 'POST' })).status).toBe(200);
    const afterGood = await (await fetch(`${d.url}/metrics`)).text();
    expect(sample(afterGood, METRIC.configReloadSuccess, '')).toBe(1);
    expect(afterGood).not.toContain('target="demo-b"');

    // SIGTERM while a measurement is running: sessions closed, exit 0, within 5 s.
    expect((await fetch(`${d.url}/api/measure/demo`, { method: 'POST' })).status).toBe(202);
    await waitFor('sessions open', async () => sample(await (await fetch(`${d.url}/metrics`)).text(), METRIC.sessionsOpen, 'target="demo"')! > 0, 20);
    const t0 = Date.now();
    const end = await stopDaemon(d);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(end.code).toBe(0);
  }, 180_000);

  it('kill -9 during a measurement loses no finished result; the restarted service is up with its history', async () => {
    const d = await startDaemon(configFile, historyFile);
    const before = await getJson(`${d.url}/api/targets/demo/history`);
    expect(before.entries.length).toBeGreaterThanOrEqual(1);
    // Warm start: the cached result is served right away, no measurement needed.
    const warm = await (await fetch(`${d.url}/metrics`)).text();
    expect(sample(warm, METRIC.timeoutUpper, 'target="demo",direction="outbound"')).toBeGreaterThan(0);

    // One more finished measurement, then kill -9 in the middle of the next one.
    expect((await fetch(`${d.url}/api/measure/demo`, { method: 'POST' })).status).toBe(202);
    await waitFor('the triggered measurement to finish', async () => {
      const h = await getJson(`${d.url}/api/targets/demo/history`);
      return h.entries.length > before.entries.length ? h : null;
    }, 90);
    const finished = (await getJson(`${d.url}/api/targets/demo/history`)).entries;
    expect((await fetch(`${d.url}/api/measure/demo`, { method: 'POST' })).status).toBe(202);
    await waitFor('sessions open', async () => sample(await (await fetch(`${d.url}/metrics`)).text(), METRIC.sessionsOpen, 'target="demo"')! > 0, 20);
    d.proc.kill('SIGKILL');
    const end = await d.exited;
    expect(end.signal).toBe('SIGKILL');

    const again = await startDaemon(configFile, historyFile);
    expect((await fetch(`${again.url}/-/ready`)).status).toBe(200);
    const after = (await getJson(`${again.url}/api/targets/demo/history`)).entries;
    expect(after.map((e: { id: number }) => e.id)).toEqual(finished.map((e: { id: number }) => e.id));
    expect(after[0].result.results[0].upperSeconds).toBe(finished[0].result.results[0].upperSeconds);
    const t = (await getJson(`${again.url}/api/targets`)).targets[0];
    expect(t.latest.id).toBe(finished[0].id);
    expect((await stopDaemon(again)).code).toBe(0);
  }, 180_000);

  it('a sentinel notices the path timeout shrinking: counted, re-measured at once, new bracket served', async () => {
    const relayLab = await startLabProcess(MIDDLEBOX_TIMEOUT_S, 'reset', ['relay', '60']);
    const sentinelConfig = path.join(dir, 'sentinel.yml');
    fs.writeFileSync(sentinelConfig, configText(relayLab.facts, ['edge'], '    directions: [outbound]\n    sentinel: { enabled: true, fraction: 0.9 }\n'));
    const d = await startDaemon(sentinelConfig, path.join(dir, 'sentinel-history.sqlite'));
    const first = await waitFor('the first measurement', async () => (await getJson(`${d.url}/api/targets`)).targets[0]?.latest ?? null, 90);
    expect(first.results[0], JSON.stringify(first)).toMatchObject({ verdict: "timeout" });
    expect(first.results[0].upperSeconds).toBeGreaterThanOrEqual(MIDDLEBOX_TIMEOUT_S - 0.5);
    // The sentinel idles at 0.9 x the estimate (at most the proven lower bound) and survives while the path still allows ~3 s.
    const watching = await waitFor('the sentinel', async () => (await getJson(`${d.url}/api/targets`)).targets[0]?.sentinel ?? null, 20);
    expect(watching.idleSeconds).toBeCloseTo(Math.min(0.9 * first.results[0].estimateSeconds, first.results[0].lowerSeconds), 1);
    // Three checks passed (the daemon counts them): waited for, not assumed from a sleep.
    const checked = await waitFor('3 sentinel checks', async () => {
      const t = (await getJson(`${d.url}/api/targets`)).targets[0];
      return t?.sentinel?.checks >= 3 ? t : null;
    }, 60);
    expect(checked.counters.sentinelDeaths).toBe(0);
    let scrape = await (await fetch(`${d.url}/metrics`)).text();
    expect(sample(scrape, METRIC.sentinelDeaths, 'target="edge"')).toBe(0);
    // The default sentinel.sessions: two staggered sessions.
    expect(sample(scrape, METRIC.sessionsOpen, 'target="edge"')).toBe(2);

    // The path now forgets flows after 1.5 s: the sentinel's next check fails.
    relayLab.proc.stdin!.write('relay-timeout 1.5\n');
    expect((await relayLab.lines.next()).value).toBe('ok');
    await waitFor('the re-measurement after the sentinel died', async () => {
      const t = (await getJson(`${d.url}/api/targets`)).targets[0];
      return t.counters.sentinelDeaths >= 1 && t.counters.measurements >= 2 && !t.running ? t : null;
    }, 90);
    scrape = await (await fetch(`${d.url}/metrics`)).text();
    expect(sample(scrape, METRIC.sentinelDeaths, 'target="edge"')).toBe(1);
    // The new bracket contains 1.5 s (1 s precision, plus slack for a loaded machine) and sits below the old one.
    const upper = sample(scrape, METRIC.timeoutUpper, 'target="edge",direction="outbound"')!;
    const lower = sample(scrape, METRIC.timeoutLower, 'target="edge",direction="outbound"')!;
    expect(upper).toBeGreaterThanOrEqual(1.5 - 0.5);
    expect(lower).toBeLessThanOrEqual(1.5 + 0.5);
    expect(upper).toBeLessThan(first.results[0].upperSeconds);
    expect((await stopDaemon(d)).code).toBe(0);
    await stopChildren([relayLab.proc]);
  }, 180_000);
});
