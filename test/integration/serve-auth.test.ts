// Basic auth of a started `idleprobe serve` (bcrypt cost 12, ~0.3 s a check) under
// a flood of wrong passwords: bcrypt work is bounded (a short queue, 429 beyond it), an
// authenticated scraper whose login is cached is answered while the flood's bcrypt work is still
// queued, repeated failures are logged a few times rather than once each, and no file path
// appears in an error body.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasicAuthChecker, bcryptCost } from '../../src/exporter/basic-auth.ts';
import { startDaemon, stopChildren, type Daemon } from './daemon-harness.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-auth-it-'));
const f = (n: string) => path.join(dir, n);
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

function get(url: string, auth?: string): Promise<{ status: number; body: string; at: bigint }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: auth ? { authorization: auth } : {}, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), at: process.hrtime.bigint() }));
      })
      .on('error', reject);
  });
}

let d: Daemon;
beforeAll(async () => {
  fs.writeFileSync(f('c.yml'), 'targets: []\n');
  fs.writeFileSync(f('web.yml'), `basic_auth_users:\n  prom: "${bcrypt.hashSync('s3cret', 12)}"\n`);
  d = await startDaemon(f('c.yml'), f('h.sqlite'), ['--web.config.file', f('web.yml'), '--web.enable-lifecycle']);
}, 60_000);
afterAll(async () => {
  try {
    await stopChildren();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('serve basic auth under a password flood', () => {
  it('bounded bcrypt work (429 beyond the queue); a cached login is answered before the queued flood; failures logged rate-limited', async () => {
    // The scraper logs in once (bcrypt), after which its login is cached.
    expect((await get(`${d.url}/metrics`, basic('prom', 's3cret'))).status).toBe(200);
    const flood = Array.from({ length: 60 }, (_, i) => get(`${d.url}/metrics`, basic(i % 2 ? 'prom' : `nobody${i}`, `guess${i}`)));
    const scrape = get(`${d.url}/metrics`, basic('prom', 's3cret'));
    const [results, ok] = await Promise.all([Promise.all(flood), scrape]);
    expect(ok.status).toBe(200);
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // One bcrypt at a time, 32 waiting: 60 arriving within far less than 33 × 0.3 s overflow the queue.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    // The cached scrape did not wait behind the queued bcrypt work.
    const lastDenied = results.filter((r) => r.status === 401).reduce((m, r) => (r.at > m ? r.at : m), 0n);
    expect(ok.at < lastDenied).toBe(true);
    // 60 failures → a handful of log lines, not 60.
    const failureLines = d.stderr.filter((l) => l.includes('basic auth'));
    expect(failureLines.length).toBeGreaterThan(0);
    expect(failureLines.length).toBeLessThanOrEqual(4);
    expect(failureLines.some((l) => l.includes('s3cret') || l.includes('guess'))).toBe(false);
  }, 120_000);

  it('the status pages and their assets ask for the password like every route', async () => {
    const css = /href="(\/assets\/[^"]+\.css)"/.exec((await get(`${d.url}/`, basic('prom', 's3cret'))).body)?.[1];
    expect(css).toBeDefined();
    for (const [route, status] of [['/', 200], ['/targets/nope', 404], [css!, 200]] as const) {
      const denied = await get(`${d.url}${route}`);
      expect(denied.status, route).toBe(401);
      expect(denied.body).not.toContain('<html');
      expect((await get(`${d.url}${route}`, basic('prom', 's3cret'))).status, route).toBe(status);
    }
  }, 30_000);

  it('error bodies name no file', async () => {
    fs.writeFileSync(f('c.yml'), 'targets:\n  - name: x\n    host: h\n    user: u\n    port: 0\n');
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${d.url}/-/reload`);
      http
        .request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: basic('prom', 's3cret') } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        })
        .on('error', reject)
        .end();
    });
    expect(r.status).toBe(500);
    expect(r.body).not.toContain(dir);
    expect(r.body).not.toContain('targets[0]');
  }, 30_000);
});

describe('the dummy hash for unknown users costs what the users cost', () => {
  it('an unknown user is compared against a hash of the highest user cost', async () => {
    const checker = new BasicAuthChecker(new Map([['a', bcrypt.hashSync('x', 4)], ['b', bcrypt.hashSync('y', 6)]]));
    expect(bcryptCost(await checker.dummy())).toBe(6);
    expect(await checker.check(basic('nobody', 'x'))).toBe('denied');
    expect(await checker.check(basic('a', 'x'))).toBe('ok');
  });
});
