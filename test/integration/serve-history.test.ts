// `idleprobe serve` start-up and its history file, through the real CLI (child processes):
//   - a corrupt history (a damaged page, or garbage) stops the start before anything listens, naming
//     the file and the flags; --history.reset-corrupt moves it aside and starts fresh, saying so;
//   - a second daemon on the same history exits 2 naming the file and the first one's PID;
//   - a SIGHUP during start-up is queued and replayed as a reload, not fatal;
//   - a foreign SQLite file is refused untouched (no WAL switch); an unopenable path names file and flag;
//   - a finished measurement whose history write fails (database locked by another process) stays
//     exported, counts idleprobe_history_write_failures_total and is written once the lock goes.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HistoryStore } from '../../src/daemon/history.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { repo, startDaemon, startLabProcess, stopChildren, track, waitFor, type LabFacts } from './daemon-harness.ts';

const BIN = path.join(repo, 'bin', 'idleprobe.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-history-it-'));
const f = (name: string) => path.join(dir, name);
const configFile = f('idleprobe.yml');

function idleprobe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: repo, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0, stdout, stderr });
    });
  });
}

const serveArgs = (history: string, ...extra: string[]) => ['serve', '--config', configFile, '--web.listen-address', '127.0.0.1:0', '--history', history, ...extra];

/** A real history with enough rows for several pages, checkpointed into the main file. */
function writeHistory(file: string): void {
  const h = new HistoryStore(file);
  for (let i = 0; i < 300; i++) h.record({ target: `t${i % 5}`, status: 'failed', startedAt: new Date(0).toISOString(), finishedAtMs: 1000 + i, durationSeconds: 1, error: 'x'.repeat(200), errorKind: 'error' });
  h.close();
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.close();
}

/** Stops every daemon a test started; one that outlives SIGTERM is killed and fails the test. */
const stopDaemons = () => stopChildren();

beforeAll(() => fs.writeFileSync(configFile, 'targets: []\n'));
afterEach(stopDaemons);
afterAll(async () => {
  await stopDaemons();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('serve: the history is checked before anything listens', () => {
  it('a damaged page: exit 2 naming the file, --history and --history.reset-corrupt; nothing listened', async () => {
    const file = f('damaged.sqlite');
    writeHistory(file);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 5);
    fs.closeSync(fd);
    const r = await idleprobe(serveArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`history file ${file} (--history)`);
    expect(r.stderr).toMatch(/malformed|integrity check failed/);
    expect(r.stderr).toContain('--history.reset-corrupt');
    expect(r.stderr).not.toContain('listening on');
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  }, 60_000);

  it('a damaged schema page is reported the same way (not a bare "database disk image is malformed")', async () => {
    const file = f('schema.sqlite');
    writeHistory(file);
    const fd = fs.openSync(file, 'r+');
    // The b-tree header of page 1 (sqlite_master), right after the 100-byte file header.
    fs.writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, 100);
    fs.closeSync(fd);
    const r = await idleprobe(serveArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`idleprobe: history file ${file} (--history): database disk image is malformed; move it aside, or start with --history.reset-corrupt`);
  }, 60_000);

  it('--history.reset-corrupt moves the file aside, says so, and serves with a fresh history', async () => {
    const file = f('reset.sqlite');
    writeHistory(file);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 5);
    fs.closeSync(fd);
    const d = await startDaemon(configFile, file, ['--history.reset-corrupt']);
    const said = d.stderr.find((l) => l.includes('was corrupt'));
    expect(said).toContain(file);
    const aside = fs.readdirSync(dir).filter((n) => n.startsWith('reset.sqlite.corrupt-') && !n.endsWith('-wal') && !n.endsWith('-shm'));
    expect(aside).toHaveLength(1);
    expect(said).toContain(aside[0]);
    expect((await fetch(`${d.url}/-/ready`)).status).toBe(200);
  }, 60_000);

  it('a foreign SQLite file is refused untouched (not switched to WAL)', async () => {
    const file = f('foreign.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (42);');
    db.close();
    const before = fs.readFileSync(file);
    const r = await idleprobe(serveArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`history file ${file} (--history): an SQLite database but not an idleprobe history (tables: invoices)`);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  }, 60_000);

  it('a row whose result is not JSON: exit 2 naming the file, the table and the row id (not exit 1 naming nothing)', async () => {
    const file = f('bad-row.sqlite');
    writeHistory(file);
    const db = new Database(file);
    db.prepare(`UPDATE runs SET result_json = '{"target": "t1", "results": [' WHERE id = 7`).run();
    db.close();
    const r = await idleprobe(serveArgs(file));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`history file ${file} (--history): table runs: result_json of row id 7 is not valid JSON`);
    expect(r.stderr).toContain('--history.reset-corrupt');
    const d = await startDaemon(configFile, file, ['--history.reset-corrupt']);
    expect(d.stderr.join('\n')).toMatch(/moved it to .*corrupt-/);
  }, 60_000);

  it('a history this user cannot write is refused before listening, naming the file', async () => {
    // Root writes any file: run serve as nobody (setpriv, util-linux) on a file owned by root, in a
    // directory nobody owns (so the lock beside it can be taken: only the file is read-only).
    fs.chmodSync(dir, 0o755);
    const sub = f('nobody-dir');
    fs.mkdirSync(sub);
    fs.chownSync(sub, 65534, 65534);
    const file = path.join(sub, 'readonly.sqlite');
    // A WAL-mode history, as the daemon leaves it: opening it needs no write, so only a write shows it.
    const h = new HistoryStore(file);
    h.record({ target: 't0', status: 'failed', startedAt: new Date(0).toISOString(), finishedAtMs: 1000, durationSeconds: 1, error: 'x', errorKind: 'error' });
    h.close();
    fs.chmodSync(file, 0o644);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, BIN, ...serveArgs(file)], { cwd: repo, timeout: 60_000, env: { ...process.env, HOME: '/tmp' } }, (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`history file ${file} (--history) cannot be written`);
    expect(r.stderr).not.toContain('listening');
  }, 60_000);

  it('a path that cannot be opened names the file and the flag', async () => {
    const file = f('no/such/dir/history.sqlite');
    const r = await idleprobe(serveArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('--history');
  }, 60_000);
});

describe('serve: one daemon per history file', () => {
  it('a second daemon on the same file exits 2 naming the file and the holder PID; the first keeps serving', async () => {
    const file = f('shared.sqlite');
    const first = await startDaemon(configFile, file, []);
    const second = await idleprobe(serveArgs(file));
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`history file ${file} (--history) is in use by another idleprobe serve (PID ${first.proc.pid}`);
    expect((await fetch(`${first.url}/-/ready`)).status).toBe(200);
    // The lock goes with the daemon: a stale lock of a killed one is taken over.
    first.proc.kill('SIGKILL');
    await first.exited;
    const third = await startDaemon(configFile, file, []);
    expect((await fetch(`${third.url}/-/ready`)).status).toBe(200);
  }, 60_000);

  it('a symlink to a history another daemon holds is refused too (the lock is on the real path)', async () => {
    const file = f('real.sqlite');
    const first = await startDaemon(configFile, file, []);
    fs.symlinkSync(file, f('link.sqlite'));
    const second = await idleprobe(serveArgs(f('link.sqlite')));
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`is in use by another idleprobe serve (PID ${first.proc.pid}`);
  }, 60_000);

  it('a stale lock naming a PID that now belongs to another live process is taken over', async () => {
    const file = f('reused-pid.sqlite');
    // This test process is alive, but it is not the process that wrote the lock (another start time).
    fs.writeFileSync(`${file}.lock`, `${process.pid} 1\n`);
    const d = await startDaemon(configFile, file, []);
    expect((await fetch(`${d.url}/-/ready`)).status).toBe(200);
  }, 60_000);
});

/** Whether `pid` has a handler installed for SIGHUP (bit 1 of SigCgt in /proc/PID/status). */
function catchesHup(pid: number): boolean {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
}

describe('serve: signals during start-up', () => {
  it("systemd's ExecReload sent right after exec (before node runs any JavaScript) waits for the handler: the daemon reloads, it does not die", async () => {
    const unit = fs.readFileSync(path.join(repo, 'deploy', 'systemd', 'idleprobe.service'), 'utf8');
    const reload = /^ExecReload=\/bin\/sh -c '(.*)'$/m.exec(unit)?.[1];
    expect(reload).toBeDefined();
    const proc = track(spawn(process.execPath, [BIN, ...serveArgs(f('execreload.sqlite'))], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] }));
    const lines: string[] = [];
    proc.stderr!.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
    // At once, as systemd would for `systemctl reload` just after `start` ($$ is systemd's literal $).
    const script = reload!.replaceAll('$MAINPID', String(proc.pid)).replaceAll('$$', '$');
    const sh = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
    const shExit = await new Promise<number | null>((r) => sh.once('exit', r));
    expect(shExit).toBe(0);
    await waitFor('the reload', async () => lines.some((l) => /SIGHUP/.test(l)), 30, () => lines.join('\n'));
    await waitFor('the daemon listening', async () => lines.some((l) => l.includes('listening on')), 30, () => lines.join('\n'));
    expect(proc.exitCode).toBeNull();
    expect(proc.signalCode).toBeNull();
  }, 60_000);

  it('a SIGHUP while modules load is queued and replayed as a reload once the daemon runs', async () => {
    const proc = track(spawn(process.execPath, [BIN, ...serveArgs(f('hup.sqlite'), '--log.level', 'debug')], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] }));
    const lines: string[] = [];
    proc.stderr!.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
    const exit = new Promise<number | null>((r) => proc.once('exit', (code, signal) => r(code ?? (signal ? 128 : null))));
    // Synchronise on the handler being installed (the very first thing bin/ does), not on a sleep.
    await waitFor('the SIGHUP handler', async () => catchesHup(proc.pid!), 10);
    expect(lines.some((l) => l.includes('listening on'))).toBe(false);
    proc.kill('SIGHUP');
    await waitFor('the queued reload', async () => lines.some((l) => l.includes('config reloaded')), 30, () => lines.join('\n'));
    const listened = lines.findIndex((l) => l.includes('listening on'));
    const reloaded = lines.findIndex((l) => l.includes('config reloaded'));
    expect(listened, 'a "listening on" log line').not.toBe(-1);
    expect(reloaded).toBeGreaterThan(listened);
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
  }, 60_000);
});

describe('serve: a failed history write loses no result', () => {
  let lab: LabFacts;
  beforeAll(async () => {
    lab = (await startLabProcess(3, 'reset')).facts;
  }, 30_000);

  it('kept in memory and exported, counted, and written once the database is free again', async () => {
    const file = f('locked.sqlite');
    const cfg = f('lab.yml');
    fs.writeFileSync(
      cfg,
      `global:\n  jitter_seconds: 0\nmodules:\n  lab:\n    min_seconds: 1\n    max_seconds: 10\n    sessions: 4\n    directions: [outbound]\n    schedule: "0 0 1 1 *"\ntargets:\n  - name: demo\n    host: ${lab.host}\n    port: ${lab.port}\n    user: ${lab.user}\n    private_key_file: ${lab.privateKeyPath}\n    host_key_sha256: "${lab.hostKeySha256}"\n    module: lab\n`,
    );
    // Another process' write transaction holds the database (as a backup tool or a second writer would).
    new HistoryStore(file).close();
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    const d = await startDaemon(cfg, file, []);
    try {
      const targets = await waitFor('the measurement to finish', async () => {
        const t = (await (await fetch(`${d.url}/api/targets`)).json()) as { targets: { latest: { status: string; id: number } | null }[] };
        return t.targets[0]?.latest ? t : null;
      }, 90, () => d.stderr.join('\n'));
      // Exported from memory although not written (a temporary id < 0 until it is).
      expect(targets.targets[0].latest!.status).toBe('ok');
      expect(targets.targets[0].latest!.id).toBeLessThan(0);
      const metrics = await waitFor('the failure counted', async () => {
        const text = await (await fetch(`${d.url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`${METRIC.historyWriteFailures} `));
        return line && Number(line.split(' ')[1]) >= 1 ? text : null;
      }, 20);
      expect(metrics).toContain(`${METRIC.timeoutEstimate}{target="demo",direction="outbound"}`);
      expect(d.stderr.some((l) => l.includes(`writing the measurement of demo to ${file} failed`))).toBe(true);
    } finally {
      blocker.exec('COMMIT');
      blocker.close();
    }
    // The retry (1 s, 2 s, … through the Clock) writes it: the history now has the row.
    const entries = await waitFor('the retried write', async () => {
      const h = (await (await fetch(`${d.url}/api/targets/demo/history`)).json()) as { entries: { id: number; status: string }[] };
      return h.entries.length === 1 ? h.entries : null;
    }, 30, () => d.stderr.join('\n'));
    expect(entries[0].status).toBe('ok');
    expect(entries[0].id).toBeGreaterThan(0);
  }, 150_000);
});
