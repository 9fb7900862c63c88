// The heartbeat survival matrix as run by the real daemon (`node bin/idleprobe.mjs serve`, a child
// process) against the demo lab (in-process SSH server + userspace middlebox that resets flows idle
// for more than 2 s, in another child process): heartbeats every 1 s survive a ~6 s window, every
// 4 s die, the session without heartbeat dies; the result is exported (promtool-clean), served at
// /api/targets/:name/heartbeat, kept in the SQLite history over a restart, and its series vanish when
// a reload switches the matrix off.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { startDaemon, stopDaemon, waitFor, type Daemon, type LabFacts } from './daemon-harness.ts';
import { expectPromtoolClean, FAST_GLOBAL_YAML, labTargetYaml, sample, useDaemonLab } from './daemon-lab-fixture.ts';

const MIDDLEBOX_TIMEOUT_S = 2;

function configText(lab: LabFacts, heartbeat: boolean): string {
  return `${FAST_GLOBAL_YAML}targets:
  - name: demo
${labTargetYaml(lab)}    directions: [outbound]
    min_seconds: 1
    max_seconds: 8
    sessions: 4
    # Once a year: the test drives runs by startup (and the matrix follows the first measurement).
    schedule: "0 0 1 1 *"
${heartbeat ? `    heartbeat:
      intervals: [1, 4]
      window: 6s
      count_max: 1
      schedule: "0 0 1 1 *"
` : ''}`;
}

/** SIGTERM; the daemon must exit 0 within the harness's bound (else it is killed and the test fails naming its PID). */
async function stop(d: Daemon): Promise<void> {
  expect((await stopDaemon(d)).code).toBe(0);
}

describe('idleprobe serve runs heartbeat survival matrices (demo lab, 2 s middlebox)', () => {
  const fixture = useDaemonLab('idleprobe-serve-hb-', MIDDLEBOX_TIMEOUT_S, 'reset', (f) => fs.writeFileSync(f.configFile, configText(f.lab, true)));
  const { configFile, historyFile } = fixture;

  it('measures, then runs the matrix; exports, stores and serves it; restart keeps it; reload without it drops the series', async () => {
    const d = await startDaemon(configFile, historyFile);
    const log = () => d.stderr.join('\n');
    const hb = await waitFor(
      'the first heartbeat matrix',
      async () => {
        const r = await fetch(`${d.url}/api/targets/demo/heartbeat`);
        const j = JSON.parse(await r.text());
        return j.latest?.status === 'ok' ? j : null;
      },
      90,
      log,
    );
    console.log(`[it] ${d.stderr.filter((l) => /measurement finished|heartbeat matrix (started|finished)/.test(l)).join('\n[it] ')}`);
    const rows = Object.fromEntries(hb.latest.matrix.results.map((r: { intervalSeconds: number }) => [String(r.intervalSeconds), r]));
    expect(rows['1'].survived, JSON.stringify(rows['1'])).toBe(true);
    expect(rows['1'].secondsSurvived).toBe(6);
    expect(rows['4'].survived).toBe(false);
    expect(['reset', 'silent']).toContain(rows['4'].cause);
    expect(rows['null'].survived).toBe(false);
    expect(hb.latest.matrix.lowestFailingIntervalSeconds).toBe(4);
    expect(hb.latest.matrix.highestSurvivingIntervalSeconds).toBe(1);
    // Cross-checked against the bracket the measurement just found around 2 s: no contradiction.
    expect(hb.latest.matrix.crossCheck.timeout.upperSeconds).toBeGreaterThanOrEqual(MIDDLEBOX_TIMEOUT_S - 0.5);
    expect(hb.latest.matrix.crossCheck.contradictions).toEqual([]);
    // The matrix only ran after the measurement had finished (never both at once).
    const started = d.stderr.findIndex((l) => l.includes('heartbeat matrix started'));
    const measured = d.stderr.findIndex((l) => l.includes('measurement finished'));
    expect(measured, 'a "measurement finished" log line').not.toBe(-1);
    expect(started).toBeGreaterThan(measured);

    const scrape = await (await fetch(`${d.url}/metrics`)).text();
    expectPromtoolClean(scrape);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="demo",interval="1"')).toBe(1);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="demo",interval="4"')).toBe(0);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="demo",interval="none"')).toBe(0);
    expect(sample(scrape, METRIC.heartbeatSurvivedSeconds, 'target="demo",interval="1"')).toBe(6);
    // The 4 s session's first heartbeat met the forgotten flow (reset, or dropped): with count_max 1 that
    // one unanswered heartbeat ended it, and the export says so, as the stored row does.
    expect(rows['4'].heartbeatsUnanswered).toBe(1);
    expect(sample(scrape, METRIC.heartbeatUnanswered, 'target="demo",interval="4"')).toBe(1);
    expect(sample(scrape, METRIC.heartbeatUnanswered, 'target="demo",interval="1"')).toBe(0);
    expect(sample(scrape, METRIC.sessionsOpen, 'target="demo"')).toBe(0);
    await stop(d);

    // Restart on the same history: the matrix is exported at once and no new one runs.
    const d1 = await startDaemon(configFile, historyFile);
    const again = await (await fetch(`${d1.url}/metrics`)).text();
    expect(sample(again, METRIC.heartbeatSurvived, 'target="demo",interval="1"')).toBe(1);
    expect(((await (await fetch(`${d1.url}/api/targets/demo/heartbeat`)).json()) as { latest: { id: number } }).latest.id).toBe(hb.latest.id);
    // SIGTERM while a matrix runs (started by the API): its sessions close, exit 0 within 5 s.
    expect((await fetch(`${d1.url}/api/heartbeat/demo`, { method: 'POST' })).status).toBe(202);
    expect((await fetch(`${d1.url}/api/measure/demo`, { method: 'POST' })).status).toBe(409);
    await waitFor('matrix sessions open', async () => (sample(await (await fetch(`${d1.url}/metrics`)).text(), METRIC.sessionsOpen, 'target="demo"') ?? 0) > 0, 10, () => d1.stderr.join('\n'));
    const t0 = Date.now();
    await stop(d1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(d1.stderr.some((l) => l.includes('heartbeat matrix aborted'))).toBe(true);

    // The aborted matrix left no row: the next start still serves the first one.
    const d2 = await startDaemon(configFile, historyFile);
    expect(((await (await fetch(`${d2.url}/api/targets/demo/heartbeat`)).json()) as { latest: { id: number } }).latest.id).toBe(hb.latest.id);

    // A reload that switches the matrix off removes its series; the stored matrix stays in the history.
    fs.writeFileSync(configFile, configText(fixture.lab, false));
    expect((await fetch(`${d2.url}/-/reload`, { method: 'POST' })).status).toBe(200);
    const off = await (await fetch(`${d2.url}/metrics`)).text();
    expect(off).not.toMatch(/^idleprobe_heartbeat_survived\{/m);
    expect(off).toContain('idleprobe_measurements_total{target="demo"}');
    expect((await fetch(`${d2.url}/api/targets/demo/heartbeat`)).status).toBe(404);
    expect(d2.stderr.some((l) => l.includes('heartbeat matrix started'))).toBe(false);
    await stop(d2);
  }, 150_000);
});
