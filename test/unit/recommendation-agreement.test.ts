// One recommendation policy: the daemon's idleprobe_recommended_heartbeat_seconds (scraped over
// HTTP from a running daemon) equals what `idleprobe advise --history FILE --json` (the real CLI,
// a child process) answers from that daemon's history — with a survival matrix that tightens the
// measured limit, and without one.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, DaemonMatrixOptions, HeartbeatFn, MeasureFn } from '../../src/daemon/runner.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import type { HeartbeatRunResult } from '../../src/heartbeat/types.ts';
import { summarize } from '../../src/heartbeat/matrix.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { HEARTBEAT } from '../../src/read-model/kinds.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const PIN = `SHA256:${'R'.repeat(43)}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-rec-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const noCron: CronScheduler = () => ({ stop: () => {}, nextRunAt: () => null });

/** Every target's path: idle timeout (100, 110] by measurement. */
const measure: MeasureFn = async (spec) =>
  ({
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 1,
    results: [{ direction: 'outbound', verdict: 'timeout', lowerSeconds: 100, upperSeconds: 110, estimateSeconds: 105, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 1000, reason: null }],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: 45,
  }) satisfies MeasurementResult;

/** …yet heartbeats every 40 s or more die on it (a middlebox that does not count them as activity). */
const heartbeat: HeartbeatFn = async (spec, opts: DaemonMatrixOptions) => {
  const rows: HeartbeatRunResult[] = [...opts.intervalsSeconds, null].map((h) => {
    const survived = h !== null && h < 40;
    return {
      intervalSeconds: h, survived, secondsSurvived: survived ? opts.windowSeconds : h ?? 0, diedAtSeconds: survived ? null : h, declaredDeadAtSeconds: survived ? null : h,
      cause: survived ? null : 'silent', heartbeatsSent: 1, heartbeatsAnswered: survived ? 1 : 0, heartbeatsUnanswered: survived ? 0 : 1, longestAnsweredIdleSeconds: null, serverHeartbeatSeconds: null, detail: null,
    };
  });
  return summarize(spec.name, new Date().toISOString(), opts.windowSeconds, opts, rows);
};

function adviseJson(args: string[]): Promise<{ recommendation: { intervalSeconds: number } }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), 'advise', ...args, '--json'], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`advise failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('idleprobe_recommended_heartbeat_seconds equals `idleprobe advise --history`', () => {
  it('with and without a survival matrix', async () => {
    const historyFile = path.join(dir, 'history.sqlite');
    const target = (name: string, extra: object) => ({ name, host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: PIN, directions: ['outbound'], ...extra });
    const config = resolveConfig({ targets: [target('matrix', { heartbeat: { intervals: [15, 40], window: 60 } }), target('plain', {})] }, { env: {} });
    const daemon = new Daemon({ config, historyFile, measure, heartbeat, cron: noCron, random: () => 0 });
    daemon.start();
    for (const name of ['matrix', 'plain']) {
      daemon.trigger(name, 'measurement');
      await daemon.settled(name, 'measurement');
    }
    // The first matrix follows the first measurement by itself.
    await daemon.settled('matrix', 'heartbeat');
    expect(job(HEARTBEAT, daemon.snapshot('matrix')).latestOk).not.toBeNull();

    const app = await buildApp(exporterOf(daemon));
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    await app.close();
    await daemon.shutdown();
    const metric = (name: string) => Number(new RegExp(`^${METRIC.recommendedHeartbeat}\\{target="${name}"\\} (\\S+)$`, 'm').exec(body)?.[1]);

    const withMatrix = await adviseJson(['--history', historyFile, '--name', 'matrix']);
    const plain = await adviseJson(['--history', historyFile, '--name', 'plain']);
    expect(metric('matrix')).toBe(withMatrix.recommendation.intervalSeconds);
    expect(metric('plain')).toBe(plain.recommendation.intervalSeconds);
    // Half the 40 s the matrix saw die, not the measurement's clamped 45 s.
    expect(metric('matrix')).toBe(20);
    expect(metric('plain')).toBe(45);
  });
});
