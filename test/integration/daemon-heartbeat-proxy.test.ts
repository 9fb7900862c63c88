// Issue 23 through the real daemon: `idleprobe serve` (a child process) runs a survival matrix with a
// `tcp:1` row against the demo lab whose middlebox is a proxy (`close` mode: after 2 s of inactivity
// it closes both legs itself, and its own kernel answers TCP keepalives, as HAProxy's does). Shown:
// the API's rows carry `kind`, /metrics has interval="tcp:1" and idleprobe_tcp_keepalive_refreshes_path
// 0 (promtool-clean), every failure_mode series includes mode="closed", and `idleprobe advise
// --history` — the real CLI, on the history file that serve wrote — states the tcp_keepalive_time
// finding from the stored matrix. (HAProxy and a conntrack NAT, for the opposite verdicts:
// test/lab/haproxy-serve.lab.test.ts.)
//
// The history starts with one stored measurement of the target (written with the daemon's own
// HistoryStore): a target with a measurement runs its first matrix soon after start instead of
// measuring first. Measuring through a proxy is issue 23 item 1 (the search learning `closed`
// evidence, another change): until it lands, a measurement of this path does not end within its
// max_seconds, and the matrix would wait behind it.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { startDaemon, stopDaemon, waitFor } from './daemon-harness.ts';
import { expectPromtoolClean, FAST_GLOBAL_YAML, labTargetYaml, sample, useDaemonLab } from './daemon-lab-fixture.ts';
import { idleprobe, show } from './cli-harness.ts';

const PROXY_TIMEOUT_S = 2;

/** What a measurement of this path says (T = 2 s, closed by the path): stored before serve starts. */
function storedMeasurement(target = 'proxied'): MeasurementResult {
  const startedAt = new Date(Date.now() - 60_000).toISOString();
  return {
    target,
    startedAt,
    elapsedSeconds: 9,
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: null,
    results: [
      { direction: 'outbound', verdict: 'timeout', lowerSeconds: 1.8, upperSeconds: 2.2, estimateSeconds: 2, failureMode: 'closed', probes: [], consistency: 1, sessionsOpened: 4, maxConcurrentSessions: 4, elapsedMs: 9000, reason: null },
    ],
  };
}

interface Row { kind: string; row: string; intervalSeconds: number | null; survived: boolean; cause: string | null; idleSecondsAtDeath: number | null; heartbeatsSent: number }

describe(`idleprobe serve: tcp:N rows through a proxy that closes idle connections after ${PROXY_TIMEOUT_S} s (demo lab, close mode)`, () => {
  const { dir, configFile, historyFile } = useDaemonLab('idleprobe-serve-proxy-', PROXY_TIMEOUT_S, 'close', ({ lab }) => {
    fs.writeFileSync(
      configFile,
      `${FAST_GLOBAL_YAML}targets:
  - name: proxied
${labTargetYaml(lab)}    directions: [outbound]
    min_seconds: 1
    max_seconds: 8
    sessions: 4
    schedule: "0 0 1 1 *"
    heartbeat:
      intervals: [1, 4, tcp:1]    # tcp:1 unquoted: YAML reads it as the string "tcp:1"
      window: 6s
      count_max: 1
      schedule: "0 0 1 1 *"
`,
    );
    const store = new HistoryStore(historyFile);
    const m = storedMeasurement();
    store.record({ target: 'proxied', status: 'ok', startedAt: m.startedAt, finishedAtMs: Date.now() - 51_000, durationSeconds: 9, result: m });
    // A path known only from a measurement (no matrix): its failure mode alone answers the question.
    store.record({ target: 'closed-only', status: 'ok', startedAt: m.startedAt, finishedAtMs: Date.now() - 51_000, durationSeconds: 9, result: storedMeasurement('closed-only') });
    store.close();
  });

  it('exports the tcp: row and refreshes_path 0, serves kind rows, and advise --history on its history file says lowering tcp_keepalive_time does not help', async () => {
    const d = await startDaemon(configFile, historyFile);
    const log = () => d.stderr.join('\n');
    const hb = await waitFor(
      'the first heartbeat matrix',
      async () => {
        const j = (await (await fetch(`${d.url}/api/targets/proxied/heartbeat`)).json()) as { latest: { status: string; matrix: { results: Row[]; tcpKeepaliveRefreshesPath: boolean | null; tcpKeepaliveEvidence: string | null } } | null; rows: string[]; tcpKeepaliveSeconds: number[] };
        return j.latest?.status === 'ok' ? j : null;
      },
      120,
      log,
    );
    console.log(`[it] ${d.stderr.filter((l) => /measurement (started|finished)|heartbeat matrix (started|finished)/.test(l)).join('\n[it] ')}`);
    expect(d.stderr.some((l) => l.includes('measurement started')), 'the stored measurement stands in for the first one').toBe(false);
    expect(d.stderr.find((l) => l.includes('heartbeat matrix started'))).toMatch(/intervals 1, 4 s, kernel keepalives tcp:1, window 6 s/);
    expect(hb.rows).toEqual(['1', '4', 'tcp:1', 'none']);
    expect(hb.tcpKeepaliveSeconds).toEqual([1]);
    const rows = Object.fromEntries(hb.latest!.matrix.results.map((r) => [r.row, r]));
    expect(Object.keys(rows)).toEqual(['1', '4', 'tcp:1', 'none']);
    expect(rows['1']).toMatchObject({ kind: 'ssh', survived: true });
    // Every idle session the proxy closed itself at its timeout: `closed`, seen at ~2 s of idle.
    for (const label of ['4', 'tcp:1', 'none']) {
      expect(rows[label], JSON.stringify(rows[label])).toMatchObject({ survived: false, cause: 'closed' });
      expect(Math.abs(rows[label].idleSecondsAtDeath! - PROXY_TIMEOUT_S), `${label}: ${rows[label].idleSecondsAtDeath}`).toBeLessThan(1);
    }
    expect(rows['tcp:1']).toMatchObject({ kind: 'tcp', intervalSeconds: 1, heartbeatsSent: 0 });
    expect(rows['none']).toMatchObject({ kind: 'ssh', intervalSeconds: null });
    expect(hb.latest!.matrix.tcpKeepaliveRefreshesPath).toBe(false);
    expect(hb.latest!.matrix.tcpKeepaliveEvidence).toMatch(/tcp:1 was closed by the path after \d+(\.\d+)? s without a byte at SSH level/);

    const scrape = await (await fetch(`${d.url}/metrics`)).text();
    expectPromtoolClean(scrape);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="proxied",interval="1"')).toBe(1);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="proxied",interval="4"')).toBe(0);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="proxied",interval="tcp:1"')).toBe(0);
    expect(sample(scrape, METRIC.heartbeatSurvived, 'target="proxied",interval="none"')).toBe(0);
    expect(sample(scrape, METRIC.heartbeatUnanswered, 'target="proxied",interval="tcp:1"')).toBe(0);
    expect(sample(scrape, METRIC.tcpKeepaliveRefreshesPath, 'target="proxied"')).toBe(0);
    // The measurement's failure mode, `closed`, among the exported states.
    const modes = ['silent', 'reset', 'closed', 'none'].map((mode) => sample(scrape, METRIC.failureMode, `target="proxied",direction="outbound",mode="${mode}"`));
    expect(modes).toEqual([0, 0, 1, 0]);
    expect((await stopDaemon(d)).code).toBe(0);

    // The real CLI on the history serve wrote: the stored matrix (with its tcp: row) is the evidence.
    const text = await idleprobe(['advise', 'proxied', '--history', historyFile]);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/Lowering net\.ipv4\.tcp_keepalive_time does not help on this path \(measured: tcp:1 was closed by the path after \d+(\.\d+)? s without a byte at SSH level/);
    expect(text.stdout).toMatch(/Shortest idle timeout on the path: \(1\.8, 2\.2\] s \(measured outbound .*, fails closed\)/);
    const json = await idleprobe(['advise', 'proxied', '--history', historyFile, '--json']);
    expect(json.code, show(json)).toBe(0);
    const doc = JSON.parse(json.stdout) as { tcpKeepalive: { refreshesPath: boolean | null; evidence: string } };
    expect(doc.tcpKeepalive.refreshesPath).toBe(false);
    expect(doc.tcpKeepalive.evidence).toMatch(/^measured: tcp:1 was closed by the path/);
    // Without a matrix, the stored measurement's failure mode `closed` says the same.
    const closedOnly = await idleprobe(['advise', 'closed-only', '--history', historyFile, '--json']);
    expect(closedOnly.code, show(closedOnly)).toBe(0);
    expect((JSON.parse(closedOnly.stdout) as typeof doc).tcpKeepalive).toMatchObject({ refreshesPath: false, evidence: expect.stringMatching(/failure mode closed/) });
  }, 180_000);

  it('a platform that cannot set the keepalive socket options: serve --config.check exits 2 naming the field, before any session; without tcp: rows the same config passes', async () => {
    const noLibc = { IDLEPROBE_LIBC: '/nonexistent/libc.so.6' };
    const refused = await idleprobe(['serve', '--config', configFile, '--config.check'], { env: noLibc });
    expect(refused.code, show(refused)).toBe(2);
    expect(refused.stderr).toMatch(
      /targets\[0\]\.heartbeat\.intervals: tcp: heartbeat rows cannot set the socket options they need \(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT\): loading \/nonexistent\/libc\.so\.6/,
    );
    // serve itself refuses to start on it (exit 2), rather than failing every matrix run.
    const started = await idleprobe(['serve', '--config', configFile, '--history', ':memory:', '--web.listen-address', '127.0.0.1:0'], { env: noLibc });
    expect(started.code, show(started)).toBe(2);
    const sshOnly = path.join(dir, 'ssh-only.yml');
    fs.writeFileSync(sshOnly, fs.readFileSync(configFile, 'utf8').replace('intervals: [1, 4, tcp:1]', 'intervals: [1, 4]'));
    const ok = await idleprobe(['serve', '--config', sshOnly, '--config.check'], { env: noLibc });
    expect(ok.code, show(ok)).toBe(0);
  }, 60_000);
});
