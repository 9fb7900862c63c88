// Locate as run by the real daemon (`node bin/idleprobe.mjs serve`, a child process) with
// `locate: true`, against the demo lab (in-process SSH server behind a userspace relay that resets
// flows idle for more than 3 s, in another child process). The relay is an application proxy, not
// a TTL hop, so the honest answer is the measured path timeout at hop 1 with no box: the job runs
// at start, follows a measurement that found a timeout, is served at /api/targets/:name/locate,
// stored as kind `locate` in the history, and exports no middlebox sample it did not find. Real
// boxes and `idleprobe_middlebox_hop` samples come from the netns chain (test/lab/locate.lab.test.ts
// for the CLI; the job logic on the simulator/fakes in test/unit/daemon-locate.test.ts).
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { startDaemon, stopDaemon, waitFor, type LabFacts } from './daemon-harness.ts';
import { FAST_GLOBAL_YAML, labTargetYaml, useDaemonLab } from './daemon-lab-fixture.ts';

const RELAY_TIMEOUT_S = 3;

function configText(lab: LabFacts): string {
  return `${FAST_GLOBAL_YAML}targets:
  - name: demo
${labTargetYaml(lab)}    directions: [outbound]
    min_seconds: 1
    max_seconds: 9
    sessions: 4
    # Once a year: the test drives runs by startup and the API.
    schedule: "0 0 1 1 *"
    locate: true
    locate_max_hops: 4
    locate_schedule: "0 0 1 1 *"
`;
}

interface LocateAnswer {
  target: string;
  enforcingHop: number | null;
  running: unknown;
  latest: { id: number; status: string; document: { verdict?: string; pathTimeoutSeconds: number | null; hops: unknown[]; boxes: unknown[]; hiddenBefore: number | null } } | null;
  lastAttempt: { id: number; status: string; error: string | null } | null;
}

describe('idleprobe serve runs locate (demo lab, 3 s userspace relay)', () => {
  const { configFile, historyFile } = useDaemonLab('idleprobe-serve-locate-', RELAY_TIMEOUT_S, 'reset', (f) => fs.writeFileSync(f.configFile, configText(f.lab)));

  it('locates after the first measurement and after one that found a timeout; serves, stores and exports it honestly', async () => {
    const d = await startDaemon(configFile, historyFile);
    const log = () => d.stderr.join('\n');
    const get = async () => {
      const r = await fetch(`${d.url}/api/targets/demo/locate`);
      expect(r.status).toBe(200);
      return (await r.json()) as LocateAnswer;
    };
    const first = await waitFor('the first locate run', async () => {
      const a = await get();
      return a.lastAttempt && !a.running ? a : null;
    }, 120, log);
    expect(first.lastAttempt!.status, JSON.stringify(first)).toBe('ok');
    const doc = first.latest!.document;
    // The path timeout came from the measurement (bracket around the relay's 3 s).
    expect(Math.abs(doc.pathTimeoutSeconds! - RELAY_TIMEOUT_S)).toBeLessThanOrEqual(1);
    expect(doc.hops).toEqual([{ hop: 1, address: '127.0.0.1' }]);
    // A userspace relay is not a TTL hop: no box invented, no enforcing hop claimed.
    expect(doc.boxes).toEqual([]);
    expect(first.enforcingHop).toBeNull();
    expect(log()).toMatch(/target demo: measurement finished/);
    expect(log()).toMatch(/target demo: locate started \(startup; up to hop 4\)/);

    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toContain(`# TYPE ${METRIC.middleboxHop} gauge`);
    expect(metrics).toContain(`# TYPE ${METRIC.middleboxTimeout} gauge`);
    expect(metrics).not.toContain(`${METRIC.middleboxHop}{`);
    expect(metrics).not.toContain(`${METRIC.middleboxTimeout}{`);
    // What it measured is exported as what no TTL locates: it resets on the next packet (kind unknown, not a proxy's own close).
    expect(doc.verdict).toBe('every_hop_died');
    const unlocatable = metrics.split('\n').find((l) => l.startsWith(`${METRIC.middleboxUnlocatableTimeout}{target="demo",kind="unknown"} `));
    expect(unlocatable, metrics).toBeDefined();
    expect(Math.abs(Number(unlocatable!.split(' ').at(-1)) - RELAY_TIMEOUT_S)).toBeLessThanOrEqual(1);

    // A measurement that finds the timeout again is followed by a locate run (no API call for it).
    expect((await fetch(`${d.url}/api/measure/demo`, { method: 'POST' })).status).toBe(202);
    const second = await waitFor('the locate run that follows the measurement', async () => {
      const a = await get();
      return a.lastAttempt && a.lastAttempt.id !== first.lastAttempt!.id && !a.running ? a : null;
    }, 120, log);
    expect(second.lastAttempt!.status).toBe('ok');
    expect(log()).toMatch(/target demo: locate started \(follow-up; up to hop 4\)/);
    // The admin route for the kind exists (generated from JOB_KINDS) and starts one.
    expect((await fetch(`${d.url}/api/locate/demo`, { method: 'POST' })).status).toBe(202);
    await waitFor('the API locate run', async () => {
      const a = await get();
      return a.lastAttempt && a.lastAttempt.id !== second.lastAttempt!.id && !a.running ? a : null;
    }, 120, log);

    expect((await stopDaemon(d)).code).toBe(0);
    const history = new HistoryStore(historyFile);
    try {
      const runs = history.listRuns<{ boxes: unknown[] }>('locate', 'demo');
      expect(runs.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
      expect(runs[0].result!.boxes).toEqual([]);
    } finally {
      history.close();
    }
  }, 300_000);
});
