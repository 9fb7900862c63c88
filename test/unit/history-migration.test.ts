// A history file written by the code before the `kind` column (main at e9b9147: tables
// measurements and heartbeat_matrices; fixture made by test/fixtures/history/generate-main-e9b9147.ts.txt)
// is migrated in place on open: `idleprobe advise --history` (the real CLI) reads it, a daemon warm-starts
// from it and serves its runs over HTTP with their ids, and the file then holds the one `runs` table.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { HistoryStore } from '../../src/daemon/history.ts';
import { openHistoryFile } from '../../src/daemon/history-file.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler } from '../../src/daemon/runner.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { silentLogger } from '../../src/log.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(REPO, 'test', 'fixtures', 'history', 'main-e9b9147.sqlite');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-migrate-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function copyOfFixture(name: string): string {
  const file = path.join(dir, name);
  fs.copyFileSync(FIXTURE, file);
  return file;
}

const tables = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

function advise(file: string, name: string): Promise<{ recommendation: { intervalSeconds: number; limitSeconds: number } }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), 'advise', '--history', file, '--name', name, '--json'], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe('history written before the kind column', () => {
  it('the fixture really is the old layout', () => {
    expect(tables(FIXTURE)).toEqual(['heartbeat_matrices', 'measurements']);
  });

  it('`advise --history` reads it (and migrates it in place)', async () => {
    const file = copyOfFixture('advise.sqlite');
    const edge = await advise(file, 'edge');
    expect(edge.recommendation).toMatchObject({ limitSeconds: 118, intervalSeconds: 45 });
    expect((await advise(file, 'bastion')).recommendation).toMatchObject({ limitSeconds: 58, intervalSeconds: 29 });
    expect(tables(file)).toEqual(['runs']);
  });

  it('keeps every run, its kind, order and measurement ids; a second open changes nothing', () => {
    const file = copyOfFixture('store.sqlite');
    const store = new HistoryStore(file);
    expect(store.list('edge').map((e) => [e.id, e.status, e.errorKind])).toEqual([[2, 'failed', 'unreachable'], [1, 'ok', null]]);
    expect(store.latestOk('edge')!.result!.results[0]).toMatchObject({ lowerSeconds: 118, upperSeconds: 121 });
    expect(store.list('bastion').map((e) => e.id)).toEqual([3]);
    const hb = store.latestHeartbeat('edge');
    expect(hb.latest).toMatchObject({ status: 'failed', errorKind: 'auth' });
    expect(hb.latestOk!.matrix!.highestSurvivingIntervalSeconds).toBe(60);
    expect(store.listRuns('heartbeat', 'edge')).toHaveLength(2);
    // New runs continue after the migrated ones.
    expect(store.record({ target: 'edge', status: 'ok', startedAt: new Date().toISOString(), finishedAtMs: Date.now(), durationSeconds: 1, result: null }).id).toBeGreaterThan(3);
    store.close();
    const again = new HistoryStore(file);
    expect(again.list('edge').map((e) => e.id).slice(1)).toEqual([2, 1]);
    again.close();
  });

  it('serve opens it (lock, check, migrate) and a daemon warm-starts from it', async () => {
    const file = copyOfFixture('serve.sqlite');
    const opened = openHistoryFile(file, { resetCorrupt: false, log: silentLogger });
    const noCron: CronScheduler = () => ({ stop: () => {}, nextRunAt: () => null });
    const target = (name: string, extra = {}) => ({ name, host: '127.0.0.1', user: 'u', use_agent: true, host_key_sha256: `SHA256:${'M'.repeat(43)}`, directions: ['outbound'], ...extra });
    const daemon = new Daemon({
      config: resolveConfig({ targets: [target('edge', { heartbeat: { intervals: [30, 60], window: 600 } }), target('bastion')] }, { env: {} }),
      history: opened.store,
      measure: async () => {
        throw new Error('a warm start measures nothing before its schedule');
      },
      heartbeat: async () => {
        throw new Error('a warm start runs no matrix it already has');
      },
      cron: noCron,
    });
    daemon.start();
    const app = await buildApp(exporterOf(daemon));
    try {
      const history = (await app.inject({ method: 'GET', url: '/api/targets/edge/history' })).json();
      expect(history.entries.map((e: { id: number }) => e.id)).toEqual([2, 1]);
      const heartbeat = (await app.inject({ method: 'GET', url: '/api/targets/edge/heartbeat' })).json();
      expect(heartbeat.latest.matrix.highestSurvivingIntervalSeconds).toBe(60);
      expect(heartbeat.lastAttempt).toMatchObject({ status: 'failed' });
      expect(job(MEASUREMENT, daemon.snapshot('bastion')).latestOk!.result!.results[0].lowerSeconds).toBe(58);
    } finally {
      await app.close();
      await daemon.shutdown();
      opened.releaseLock();
    }
  });
});
