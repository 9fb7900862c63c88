// `idleprobe serve` against the attacks of issue 19, at test scale, through the real CLI and real
// sockets from loopback addresses (127.0.0.x): pipelined requests bounded per connection, the TLS
// handshake bounded, connection slots freed for a newcomer by evicting opening/idle ones, the
// per-client caps (connections, connection rate, exporter-toolkit's rate_limit), the web config's
// TLS fields applied or refused, bcrypt fair and not timeable, a trickling upload cut. The figures
// (RSS, /metrics p99 with 1,000 targets) are in `npm run bench:attack`, not here.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { children, startDaemon } from './daemon-harness.ts';
import { idleprobe } from './cli-harness.ts';
import { synFloodPcap } from '../fixtures/captures/synth.ts';
import { connect, trickleUpload } from './raw-http.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-attack-it-'));
const f = (n: string) => path.join(dir, n);
const configFile = f('idleprobe.yml');
const PIN = `SHA256:${'D'.repeat(43)}`;
let histories = 0;
const serve = (args: string[]) => startDaemon(configFile, f(`h${histories++}.sqlite`), args);
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

/** Resolves with ms until the server closed `socket`; rejects after `limitMs`. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`connection still open after ${limitMs} ms`)), limitMs);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

function get(url: string, opts: { auth?: string; localAddress?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, localAddress: opts.localAddress, headers: opts.auth ? { authorization: opts.auth } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      })
      .on('error', reject);
  });
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

beforeAll(() => {
  const targets = Array.from({ length: 50 }, (_, i) => `  - { name: t${i}, host: 198.18.0.${i + 1}, user: u, password_env: ATTACK_TEST_PW, host_key_sha256: "${PIN}", schedule: "0 0 1 1 *" }`);
  process.env.ATTACK_TEST_PW = 'unused';
  fs.writeFileSync(configFile, `global: { jitter_seconds: 3600 }\ntargets:\n${targets.join('\n')}\n`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=attack test CA']);
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
}, 60_000);

async function stopDaemons(): Promise<void> {
  const alive = [...children];
  for (const c of alive) c.kill('SIGTERM');
  await Promise.race([Promise.all(alive.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))))), new Promise((r) => setTimeout(r, 5000))]);
  for (const c of children) c.kill('SIGKILL');
}
afterEach(stopDaemons);
afterAll(async () => {
  await stopDaemons();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('serve: pipelined requests', () => {
  it('one connection pipelining 60 GET /api/targets: --web.max-requests-per-connection are answered, the rest get a cheap 503, in order', async () => {
    const d = await serve(['--web.max-requests-per-connection', '8']);
    const s = await connect(d.url);
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.write('GET /api/targets HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(60));
    await closedWithin(s, 30_000);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(200));
    expect(statuses.slice(8).every((c) => c === 503)).toBe(true);
    expect((await get(`${d.url}/-/healthy`)).status).toBe(200);
  }, 60_000);
});

describe('serve: connection slots', () => {
  it('a TLS socket that never sends a ClientHello is closed at the header timeout, not after 120 s', async () => {
    fs.writeFileSync(f('web-tls.yml'), 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n');
    const d = await serve(['--web.config.file', f('web-tls.yml'), '--web.read-header-timeout', '1s', '--web.idle-timeout', '60s']);
    const s = await connect(d.url);
    expect(await closedWithin(s, 15_000)).toBeGreaterThanOrEqual(900);
  }, 60_000);

  it('at the cap, a newcomer is served: the oldest slow-loris connection is evicted for it', async () => {
    const d = await serve(['--web.max-connections', '4', '--web.read-header-timeout', '30s', '--web.idle-timeout', '60s', '--web.request-timeout', '60s']);
    const held: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await connect(d.url, `127.0.0.${10 + i}`);
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      held.push(s);
    }
    const oldestClosed = closedWithin(held[0], 10_000);
    expect((await get(`${d.url}/-/healthy`)).status).toBe(200);
    await oldestClosed;
    expect(held.slice(1).every((s) => !s.destroyed)).toBe(true);
    expect(d.stderr.join('\n')).toMatch(/connection cap reached; closed an opening or idle connection of 127\.0\.0\.10/);
  }, 60_000);

  it('one client holds at most --web.max-connections-per-client; its own oldest opening one makes room', async () => {
    const d = await serve(['--web.max-connections-per-client', '2', '--web.read-header-timeout', '30s', '--web.idle-timeout', '60s', '--web.request-timeout', '60s']);
    const a = await connect(d.url, '127.0.0.20');
    const b = await connect(d.url, '127.0.0.20');
    const other = await connect(d.url, '127.0.0.21');
    const aClosed = closedWithin(a, 10_000);
    expect((await get(`${d.url}/-/healthy`, { localAddress: '127.0.0.20' })).status).toBe(200);
    await aClosed;
    expect(b.destroyed || other.destroyed).toBe(false);
  }, 60_000);

  it('a reconnect flood from one client is closed at accept beyond --web.client-connection-rate (burst 4 × n)', async () => {
    const d = await serve(['--web.client-connection-rate', '1']);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => connect(d.url, '127.0.0.30')));
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, 2_000).then(() => true, () => false)));
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(3);
    for (const s of sockets) s.destroy();
    // Another client is not affected.
    expect((await get(`${d.url}/-/healthy`, { localAddress: '127.0.0.31' })).status).toBe(200);
  }, 60_000);
});

describe('serve: the web config', () => {
  it('rate_limit: burst requests per client, then 429 with Retry-After; other clients unaffected', async () => {
    fs.writeFileSync(f('web-rate.yml'), 'rate_limit:\n  interval: 10s\n  burst: 2\n');
    const check = await idleprobe(['serve', '--config', configFile, '--web.config.file', f('web-rate.yml'), '--config.check']);
    expect(check.stdout).toContain('rate limit 2 request(s), then one per 10000 ms, per client');
    const d = await serve(['--web.config.file', f('web-rate.yml')]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(`${d.url}/-/healthy`, { localAddress: '127.0.0.40' })).status);
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await get(`${d.url}/metrics`, { localAddress: '127.0.0.40' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await get(`${d.url}/-/healthy`, { localAddress: '127.0.0.41' })).status).toBe(200);
  }, 60_000);

  it('fields that cannot take effect are refused at load with their path (http2: true, unknown cipher or curve, burst 0)', async () => {
    const cases: [string, string][] = [
      ['http_server_config:\n  http2: true\n', 'http_server_config.http2: HTTP/2 is not supported'],
      ['tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n', 'tls_server_config.cipher_suites[0]: not supported here'],
      ['tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [X25519MLKEM768]\n', 'tls_server_config.curve_preferences[0]: not supported here'],
      ['rate_limit:\n  interval: 1s\n', 'rate_limit.burst: must be at least 1'],
      ['rate_limit:\n  interval: soon\n  burst: 1\n', 'rate_limit.interval: "soon" is not a duration'],
    ];
    for (const [i, [yaml, message]] of cases.entries()) {
      fs.writeFileSync(f(`web-bad-${i}.yml`), yaml);
      const r = await idleprobe(['serve', '--config', configFile, '--web.config.file', f(`web-bad-${i}.yml`), '--config.check']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    }
    fs.writeFileSync(f('web-h1.yml'), 'http_server_config:\n  http2: false\n');
    expect((await idleprobe(['serve', '--config', configFile, '--web.config.file', f('web-h1.yml'), '--config.check'])).code).toBe(0);
  }, 120_000);

  it('cipher_suites and curve_preferences take effect on the TLS port', async () => {
    fs.writeFileSync(
      f('web-ciphers.yml'),
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [CurveP384]\n',
    );
    const d = await serve(['--web.config.file', f('web-ciphers.yml')]);
    const u = new URL(d.url);
    const ca = fs.readFileSync(f('ca.crt'));
    const hello = (opts: tls.ConnectionOptions) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: u.hostname, port: Number(u.port), ca, maxVersion: 'TLSv1.2', ...opts }, () => {
          resolve(`ok ${s.getCipher().name}`);
          s.destroy();
        });
        s.on('error', (e) => resolve(`refused ${e.message}`));
      });
    // The certificate's key is P-256: the client must accept that curve for the signature, P-384 for the exchange.
    expect(await hello({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ecdhCurve: 'P-384:P-256' })).toBe('ok ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(await hello({ ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', ecdhCurve: 'P-384:P-256' })).toMatch(/^refused/);
    expect(await hello({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ecdhCurve: 'P-256' })).toMatch(/^refused/);
  }, 60_000);
});

describe('serve: basic auth under a flood from other clients', () => {
  it('a correct login not cached yet is served (200, not 429) while clients with wrong passwords keep the bcrypt queue full', async () => {
    fs.writeFileSync(f('web-auth.yml'), `basic_auth_users:\n  prom: "${bcrypt.hashSync('s3cret', 11)}"\n  other: "${bcrypt.hashSync('x', 11)}"\n`);
    const d = await serve(['--web.config.file', f('web-auth.yml')]);
    // 20 clients, each from its own address, two rounds of wrong passwords (they are then "suspect").
    const flood = async (round: number) =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          get(`${d.url}/metrics`, { auth: basic('prom', `guess${round}-${i}`), localAddress: `127.0.0.${50 + i}` }).then((r) => ({ ...r, at: performance.now() })),
        ),
      );
    await flood(0);
    // The same clients again: now "suspect", they queue behind a client without a failed login.
    const second = flood(1);
    const login = await get(`${d.url}/metrics`, { auth: basic('prom', 's3cret') });
    const loginAt = performance.now();
    const denied = await second;
    expect(login.status).toBe(200);
    expect(denied.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    // Served ahead of the suspect clients' queued comparisons (first come first served would put it last).
    const lastDenied = Math.max(...denied.filter((r) => r.status === 401).map((r) => r.at));
    expect(loginAt).toBeLessThan(lastDenied);
  }, 120_000);

  it('an unknown user and a wrong password of a cheap (cost 4) hash take as long as a wrong password at the highest cost', async () => {
    fs.writeFileSync(f('web-costs.yml'), `basic_auth_users:\n  cheap: "${bcrypt.hashSync('a', 4)}"\n  dear: "${bcrypt.hashSync('b', 12)}"\n`);
    const d = await serve(['--web.config.file', f('web-costs.yml')]);
    const time = async (user: string) => {
      const ms: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        expect((await get(`${d.url}/-/healthy`, { auth: basic(user, `wrong${i}`), localAddress: '127.0.0.90' })).status).toBe(401);
        ms.push(performance.now() - t0);
      }
      return ms.sort((x, y) => x - y)[1];
    };
    const dear = await time('dear');
    const cheap = await time('cheap');
    const unknown = await time('nobody');
    // Without padding, cost 4 is 1/256 of cost 12; with it, the same order of magnitude.
    expect(cheap / dear).toBeGreaterThan(0.4);
    expect(unknown / dear).toBeGreaterThan(0.4);
  }, 120_000);
});

describe('serve: uploads', () => {
  it('a trickling upload is cut with 408 at --analyze.min-upload-rate, freeing the analysis slot', async () => {
    const d = await serve(['--web.enable-admin-api', '--analyze.min-upload-rate', '100000', '--web.idle-timeout', '60s']);
    // A valid capture, sent at 200 bytes/s: its header and first packets parse, the rest trickles.
    const reply = await trickleUpload(d.url, synFloodPcap(5000), 100, 500);
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    expect(reply).toContain('--analyze.min-upload-rate');
  }, 60_000);
});
