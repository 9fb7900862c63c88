// POST /api/analyze against a real `idleprobe serve` over HTTP: the scope is the CLI's (`?scope=ssh`
// by default, `all`, a port; `?port=N` the shorthand), and the upload gets what `analyze` gives the
// same file — gzip read, a capture cut short reported with `incomplete`, an endless interface table
// refused with a 400 naming the byte offset.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/capture/index.ts';
import { MAX_PCAPNG_INTERFACES } from '../../src/capture/limits.ts';
import { children, startDaemon, type Daemon } from './daemon-harness.ts';
import { idleprobe } from './cli-harness.ts';
import { fixture, fixturePath } from '../fixtures/captures/synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'idleprobe-analyze-api-'));
let daemon: Daemon;

beforeAll(async () => {
  writeFileSync(join(dir, 'idleprobe.yml'), 'targets: []\n');
  daemon = await startDaemon(join(dir, 'idleprobe.yml'), join(dir, 'history.sqlite'), ['--web.enable-admin-api']);
}, 60_000);
afterAll(async () => {
  daemon?.proc.kill('SIGTERM');
  await daemon?.exited;
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function upload(query: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${daemon.url}/api/analyze${query}`);
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: 'POST', headers: { 'content-type': 'application/vnd.tcpdump.pcap', 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const report = (r: { status: number; body: string }): AnalysisReport => {
  expect(r.status, r.body).toBe(200);
  return JSON.parse(r.body) as AnalysisReport;
};

const lab = fixture('client-eth.pcap');

describe('POST /api/analyze: one scope, as the CLI', () => {
  it('without a scope: SSH by its banner on any port, like `idleprobe analyze` (was: port 22 only)', async () => {
    const [api, cli] = await Promise.all([upload('', lab), idleprobe(['analyze', fixturePath('client-eth.pcap'), '--json'])]);
    const r = report(api);
    expect(r).toMatchObject({ sshOnly: true, port: null, flowCount: 5, connectionsNotSsh: 2 });
    expect(r).toEqual(JSON.parse(cli.stdout));
  });

  it('?scope=all, ?scope=PORT and the ?port=N shorthand (0 = all) give what --scope gives', async () => {
    const [all, port, shortAll, short2222] = await Promise.all([upload('?scope=all', lab), upload('?scope=2222', lab), upload('?port=0', lab), upload('?port=2222', lab)]);
    expect(report(all)).toMatchObject({ sshOnly: false, port: null, flowCount: 7 });
    expect(report(port)).toMatchObject({ sshOnly: false, port: 2222, flowCount: 2 });
    expect(report(shortAll)).toEqual(report(all));
    expect(report(short2222)).toEqual(report(port));
  });

  it('a bad scope, or both spellings at once, is a 400 naming the parameter', async () => {
    const [bad, both, range] = await Promise.all([upload('?scope=ftp', lab), upload('?scope=ssh&port=22', lab), upload('?port=70000', lab)]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toBe('scope must be ssh (SSH by its banner, any port), all (every TCP connection) or a port number 1–65535, got "ftp"');
    expect(both.status).toBe(400);
    expect(JSON.parse(both.body).error).toBe('port N is a shorthand for scope N: give one of them');
    expect(range.status).toBe(400);
  });
});

describe('POST /api/analyze: the inputs users upload', () => {
  it('a gzip-compressed capture is read as it is', async () => {
    expect(report(await upload('?scope=all', gzipSync(lab)))).toEqual(report(await upload('?scope=all', lab)));
  });

  it('a capture cut short: 200 with the report of what was read and `incomplete`', async () => {
    const r = report(await upload('?scope=all', lab.subarray(0, lab.length - 5)));
    expect(r.packets).toBe(250);
    expect(r.incomplete).toMatchObject({ cause: 'cut_short', detail: expect.stringMatching(/^record is truncated/) });
  });

  it(`a pcapng describing more than ${MAX_PCAPNG_INTERFACES} interfaces: 400 naming the limit and the byte offset`, async () => {
    const shb = Buffer.alloc(28);
    shb.writeUInt32LE(0x0a0d0d0a, 0);
    shb.writeUInt32LE(28, 4);
    shb.writeUInt32LE(0x1a2b3c4d, 8);
    shb.writeUInt16LE(1, 12);
    shb.writeBigInt64LE(-1n, 16);
    shb.writeUInt32LE(28, 24);
    const idb = Buffer.alloc(20);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(20, 4);
    idb.writeUInt16LE(1, 8);
    idb.writeUInt32LE(20, 16);
    const body = Buffer.concat([shb, ...Array.from({ length: MAX_PCAPNG_INTERFACES + 1 }, () => idb)]);
    const r = await upload('', body);
    expect(r.status, r.body).toBe(400);
    expect(JSON.parse(r.body).error).toBe(
      `bad capture input at byte offset ${28 + 20 * MAX_PCAPNG_INTERFACES} (after 0 packets): more than ${MAX_PCAPNG_INTERFACES} interface descriptions in one section (the limit) (block type 0x1)`,
    );
  });
});
