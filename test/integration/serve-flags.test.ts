// Every documented flag of `idleprobe serve` reaches what it names, through
// the real CLI entry (node bin/idleprobe.mjs as a child process) and, for serve, HTTP against the
// started daemon: TLS actually on and basic auth actually enforced with --web.config.file, the
// opt-in APIs actually off without their flags, each timeout actually cutting a connection, and so
// on. The table is checked against `--help`: a flag added without a row here fails the test.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { synFloodPcap } from '../fixtures/captures/synth.ts';
import { connect, trickleUpload } from './raw-http.ts';
import { repo, startDaemon, startServe, stopChildren, track, waitFor, type Daemon } from './daemon-harness.ts';
import { DEMO_TARGETS, DEMO_WRONG_KEY_TARGET } from '../../src/app/demo.ts';
import { STYLESHEET_PATH } from '../../src/pictures/layout.ts';
import { BIN, documentedFlags, idleprobe } from './cli-harness.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-flags-'));
const f = (name: string) => path.join(dir, name);
const configFile = f('idleprobe.yml');
const PIN = `SHA256:${'D'.repeat(43)}`;

/** serve with `args` on a loopback port and a history of its own; stopped in afterAll. */
let histories = 0;
function serve(args: string[]): Promise<Daemon> {
  return startDaemon(configFile, f(`history-${histories++}.sqlite`), args);
}

interface Reply {
  status: number;
  body: string;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; ca?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: opts.method ?? 'GET', headers: opts.headers, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Resolves with ms until the server closed `socket`; fails after `limitMs` (the flag did not act). */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${limitMs} ms`));
    }, limitMs);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`cannot run openssl (Debian package openssl) to make test certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const PCAP = { 'content-type': 'application/vnd.tcpdump.pcap' };

beforeAll(() => {
  fs.writeFileSync(configFile, 'targets: []\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=idleprobe test CA']);
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
  fs.writeFileSync(
    f('web.yml'),
    `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: "${bcrypt.hashSync('s3cret', 4)}"\n`,
  );
  fs.writeFileSync(f('web-bad.yml'), 'tls_server_config: [unclosed\n');
  fs.writeFileSync(
    f('two-targets.yml'),
    `targets:\n${['a', 'b', 'c', 'd']
      .map((n) => `  - { name: ${n}, host: 127.0.0.1, port: 2222, user: u, use_agent: true, host_key_sha256: "${PIN}" }\n`)
      .join('')}`,
  );
}, 60_000);

/** Stops every daemon a row started, so they do not pile up; one that outlives SIGTERM is killed and fails the row. */
const stopDaemons = () => stopChildren();
afterEach(stopDaemons);
afterAll(async () => {
  await stopDaemons();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One row per documented serve flag: what it names, shown through the running (or checking) CLI. */
const SERVE_FLAGS: Record<string, () => Promise<void>> = {
  '--config': async () => {
    const [ok, missing] = await Promise.all([idleprobe(['serve', '--config', f('two-targets.yml'), '--config.check']), idleprobe(['serve', '--config', f('nope.yml'), '--config.check'])]);
    expect(ok.stdout).toContain(`${f('two-targets.yml')}: OK, 4 target(s)`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(f('nope.yml'));
  },
  '--config.check': async () => {
    const r = await idleprobe(['serve', '--config', configFile, '--config.check', '--web.listen-address', '127.0.0.1:0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${configFile}: OK, 0 target(s)`);
    expect(r.stderr).not.toContain('listening');
  },
  '--web.listen-address': async () => {
    const [d, bad] = await Promise.all([serve(['--web.listen-address', '127.0.0.1:0']), idleprobe(['serve', '--config', configFile, '--web.listen-address', 'nowhere'])]);
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected \[host\]:port/);
  },
  '--web.config.file': async () => {
    // The CLI-only checks below start with the daemon: CI waits for one start, not four in a row.
    const checks = Promise.all([idleprobe(['serve', '--config', configFile, '--web.config.file', f('web.yml'), '--config.check']), ...[f('missing-web.yml'), f('web-bad.yml')].map((bad) => idleprobe(['serve', '--config', configFile, '--web.config.file', bad, '--config.check']))]);
    const d = await serve(['--web.config.file', f('web.yml')]);
    // TLS actually on, basic auth actually enforced.
    expect(d.url).toMatch(/^https:\/\//);
    const ca = fs.readFileSync(f('ca.crt'));
    expect((await request(`${d.url}/api/targets`, { ca })).status).toBe(401);
    expect((await request(`${d.url}/api/targets`, { ca, headers: { authorization: basic('prom', 'wrong') } })).status).toBe(401);
    expect((await request(`${d.url}/api/targets`, { ca, headers: { authorization: basic('prom', 's3cret') } })).status).toBe(200);
    await expect(request(d.url.replace('https:', 'http:') + '/api/targets')).rejects.toThrow();
    // The status pages and their assets too: 401 without the password, answered over TLS with it.
    for (const [route, status] of [['/', 200], ['/?sort=name&order=desc', 200], ['/targets/nope', 404], [STYLESHEET_PATH, 200]] as const) {
      expect((await request(`${d.url}${route}`, { ca })).status, route).toBe(401);
      expect((await request(`${d.url}${route}`, { ca, headers: { authorization: basic('prom', 'wrong') } })).status, route).toBe(401);
      expect((await request(`${d.url}${route}`, { ca, headers: { authorization: basic('prom', 's3cret') } })).status, route).toBe(status);
    }
    // --config.check validates the web config too: OK, missing, malformed → exit 2 naming the file.
    const [ok, ...bads] = await checks;
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${f('web.yml')}: OK, TLS, basic auth (1 user(s))`);
    for (const [i, bad] of [f('missing-web.yml'), f('web-bad.yml')].entries()) {
      const r = bads[i];
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(bad);
    }
  },
  '--web.enable-lifecycle': async () => {
    const [off, on] = await Promise.all([serve([]), serve(['--web.enable-lifecycle'])]);
    const r = await request(`${off.url}/-/reload`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(r.body).toContain('--web.enable-lifecycle');
    expect((await request(`${on.url}/-/reload`, { method: 'POST' })).status).toBe(200);
  },
  '--web.enable-admin-api': async () => {
    const [off, on] = await Promise.all([serve([]), serve(['--web.enable-admin-api'])]);
    for (const url of ['/api/measure/x', '/api/heartbeat/x', '/api/analyze']) {
      const r = await request(`${off.url}${url}`, { method: 'POST', headers: PCAP, body: synFloodPcap(1) });
      expect(r.status, url).toBe(403);
      expect(r.body).toContain('--web.enable-admin-api');
    }
    expect((await request(`${on.url}/api/measure/x`, { method: 'POST' })).status).toBe(404);
    expect((await request(`${on.url}/api/analyze`, { method: 'POST', headers: PCAP, body: synFloodPcap(1) })).status).toBe(200);
  },
  '--web.read-header-timeout': async () => {
    const d = await serve(['--web.read-header-timeout', '1s', '--web.idle-timeout', '30s']);
    // Slow-loris: a header line every 200 ms keeps the socket busy but never finishes the headers.
    const s = await connect(d.url);
    s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 200);
    try {
      const ms = await closedWithin(s, 8_000);
      expect(ms).toBeGreaterThanOrEqual(900);
    } finally {
      clearInterval(trickle);
    }
  },
  '--web.request-timeout': async () => {
    const d = await serve(['--web.enable-admin-api', '--web.read-header-timeout', '1s', '--web.request-timeout', '2s', '--web.idle-timeout', '30s']);
    // An upload that makes progress (a byte every 200 ms) but too slowly is still cut.
    const s = await connect(d.url);
    s.write('POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.tcpdump.pcap\r\nContent-Length: 100000\r\n\r\n');
    const trickle = setInterval(() => s.writable && s.write('\0'), 200);
    try {
      const ms = await closedWithin(s, 10_000);
      expect(ms).toBeGreaterThanOrEqual(1_900);
    } finally {
      clearInterval(trickle);
    }
  },
  '--web.idle-timeout': async () => {
    const d = await serve(['--web.idle-timeout', '1s', '--web.read-header-timeout', '20s', '--web.request-timeout', '30s']);
    // A stalled client (connected, sends nothing) is closed at the idle timeout.
    const s = await connect(d.url);
    const ms = await closedWithin(s, 8_000);
    expect(ms).toBeGreaterThanOrEqual(900);
  },
  '--web.max-connections': async () => {
    const d = await serve(['--web.max-connections', '2', '--web.idle-timeout', '30s', '--web.read-header-timeout', '20s', '--web.request-timeout', '30s']);
    // Both slots held by connections that send nothing (from two clients, under the per-client cap).
    const held = [await connect(d.url), await connect(d.url)];
    const oldestClosed = closedWithin(held[0], 5_000);
    // A newcomer is served: the oldest connection still opening is closed to make room.
    expect((await request(`${d.url}/-/healthy`)).status).toBe(200);
    await oldestClosed;
    expect(held[1].destroyed).toBe(false);
    for (const s of held) s.destroy();
  },
  '--web.max-connections-per-client': async () => {
    const d = await serve(['--web.max-connections-per-client', '1', '--web.idle-timeout', '30s', '--web.read-header-timeout', '20s', '--web.request-timeout', '30s']);
    const first = await connect(d.url);
    // The same client's second connection makes room by closing its first (still opening).
    const firstClosed = closedWithin(first, 5_000);
    expect((await request(`${d.url}/-/healthy`)).status).toBe(200);
    await firstClosed;
  },
  '--web.client-connection-rate': async () => {
    const d = await serve(['--web.client-connection-rate', '1']);
    // Burst 4 × 1: of 7 at once, at least the last 2 (3 minus the refill while connecting) are closed.
    const sockets = await Promise.all(Array.from({ length: 7 }, () => connect(d.url)));
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, 2_000).then(() => true, () => false)));
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    for (const s of sockets) s.destroy();
  },
  '--web.max-requests-per-connection': async () => {
    const d = await serve(['--web.max-requests-per-connection', '3']);
    const s = await connect(d.url);
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(5));
    await closedWithin(s, 20_000);
    expect([...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))).toEqual([200, 200, 200, 503, 503]);
  },
  '--web.max-concurrent-requests': async () => {
    // Its 503s need responses large enough to stay in flight (1,000 targets): npm run bench:attack (2a–2c).
    const [d, bad] = await Promise.all([serve(['--web.max-concurrent-requests', '1']), idleprobe(['serve', '--config', configFile, '--web.max-concurrent-requests', '0'])]);
    expect((await request(`${d.url}/api/targets`)).status).toBe(200);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--web.max-concurrent-requests');
  },
  '--web.requests-per-second': async () => {
    const d = await serve(['--web.requests-per-second', '2']);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(`${d.url}/api/targets`)).status);
    // Burst 2: the third and fourth within the same second get 503; /metrics is never counted.
    expect(statuses.filter((c) => c === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect((await request(`${d.url}/metrics`)).status).toBe(200);
  },
  '--analyze.min-upload-rate': async () => {
    const d = await serve(['--web.enable-admin-api', '--analyze.min-upload-rate', '1000000', '--web.idle-timeout', '60s']);
    // A valid capture at 5 KB/s: its packets parse, but it arrives slower than 1 MB/s.
    const reply = await trickleUpload(d.url, synFloodPcap(20_000), 1000, 200);
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
  },
  '--analyze.max-concurrent': async () => {
    const d = await serve(['--web.enable-admin-api', '--analyze.max-concurrent', '1']);
    // Upload A holds the only slot: headers and the pcap header sent, the rest held back.
    const flood = synFloodPcap(2000);
    const u = new URL(d.url);
    const held = http.request({ host: u.hostname, port: u.port, path: '/api/analyze?port=22', method: 'POST', headers: { ...PCAP, 'content-length': String(flood.length) } });
    const heldReply = new Promise<Reply>((resolve, reject) => {
      held.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      held.on('error', reject);
    });
    held.write(flood.subarray(0, 1000));
    await waitFor('the first analysis in flight', async () => sample((await request(`${d.url}/metrics`)).body, METRIC.captureAnalysesInFlight) === 1, 20);
    const second = await request(`${d.url}/api/analyze`, { method: 'POST', headers: PCAP, body: synFloodPcap(10) });
    expect(second.status).toBe(429);
    held.end(flood.subarray(1000));
    expect((await heldReply).status).toBe(200);
    await waitFor('the rejection counted', async () => sample((await request(`${d.url}/metrics`)).body, METRIC.captureAnalysesRejected) === 1, 10);
  },
  '--analyze.max-live-flows': async () => {
    const d = await serve(['--web.enable-admin-api', '--analyze.max-live-flows', '100']);
    const r = await request(`${d.url}/api/analyze?port=22`, { method: 'POST', headers: PCAP, body: synFloodPcap(3000) });
    expect(r.status).toBe(200);
    const report = JSON.parse(r.body);
    expect(report.maxLiveFlows).toBe(100);
    expect(report.flowCount).toBe(3000);
    expect(report.flowsEvicted.halfOpen).toBeGreaterThan(2800);
    const evicted = report.flowsEvicted.halfOpen + report.flowsEvicted.idle;
    await waitFor('evictions exported', async () => sample((await request(`${d.url}/metrics`)).body, METRIC.captureFlowsEvicted) === evicted, 10);
  },
  '--history': async () => {
    const file = f('chosen-history.sqlite');
    const d = await startDaemon(configFile, file, []);
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.readFileSync(`${file}.lock`, 'utf8').trim().split(' ')[0]).toBe(String(d.proc.pid));
  },
  '--history.reset-corrupt': async () => {
    const file = f('corrupt.sqlite');
    fs.writeFileSync(file, 'not a database at all, just text long enough to be looked at'.repeat(100));
    const refused = await idleprobe(['serve', '--config', configFile, '--history', file, '--web.listen-address', '127.0.0.1:0']);
    expect(refused.code).toBe(2);
    const d = await startDaemon(configFile, file, ['--history.reset-corrupt']);
    expect(d.stderr.join('\n')).toMatch(/was corrupt .*moved it to .*corrupt-.*started a fresh history/);
  },
  '--log.level': async () => {
    const badLevel = idleprobe(['serve', '--config', configFile, '--log.level', 'loud']);
    const debug = await serve(['--log.level', 'debug']);
    expect(debug.stderr.some((l) => l.includes('level=debug'))).toBe(true);
    // At warn the daemon does not even say it listens: find it on a port chosen here.
    const port = await freePort();
    const warn = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--history', f('warn.sqlite'), '--web.listen-address', `127.0.0.1:${port}`, '--log.level', 'warn'], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    track(warn);
    const lines: string[] = [];
    warn.stderr.on('data', (c: Buffer) => lines.push(c.toString()));
    await waitFor('the warn-level daemon to be ready', async () => (await request(`http://127.0.0.1:${port}/-/ready`)).status === 200, 20);
    expect(lines.join('')).not.toContain('level=info');
    expect((await badLevel).code).toBe(2);
  },
  '--demo': async () => {
    // The refusals are CLI runs of their own: started with the daemon, checked after it.
    const badAddresses = ['0.0.0.0:0', ':0', '[::]:0', '198.18.0.1:0'];
    const badExtras = [['--config', configFile], ['--history', f('demo.sqlite')], ['--shard', '1/2'], ['--config.check']];
    const refusals = Promise.all([...badAddresses.map((addr) => idleprobe(['serve', '--demo', '--web.listen-address', addr])), ...badExtras.map((extra) => idleprobe(['serve', '--demo', ...extra])), idleprobe(['serve'])]);
    const d = await startServe(['--demo', '--web.listen-address', '127.0.0.1:0']);
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(d.stderr.join('\n')).toContain('history in memory');
    // Its own targets, on the status page and in the API, without any config file.
    const names = [...DEMO_TARGETS.map((t) => t.name), DEMO_WRONG_KEY_TARGET];
    expect(JSON.parse((await request(`${d.url}/api/targets`)).body).targets.map((t: { name: string }) => t.name).sort()).toEqual([...names].sort());
    const page = await request(`${d.url}/?refresh=0`);
    expect(page.status).toBe(200);
    for (const n of names) expect(page.body).toContain(`data-target="${n}"`);
    // Loopback only; and no config, history or shard of its own.
    const answers = await refusals;
    for (const [i, addr] of badAddresses.entries()) {
      const bad = answers[i];
      expect(bad.code, addr).toBe(2);
      expect(bad.stderr).toContain('--demo listens on loopback only');
    }
    for (const [i, extra] of badExtras.entries()) {
      const bad = answers[badAddresses.length + i];
      expect(bad.code, extra.join(' ')).toBe(2);
      expect(bad.stderr).toContain(`cannot be combined with ${extra[0]}`);
    }
    expect(answers[answers.length - 1].stderr).toContain('or --demo');
  },
  '--shard': async () => {
    const [r, outOfRange] = await Promise.all([idleprobe(['serve', '--config', f('two-targets.yml'), '--shard', '1/2', '--config.check']), idleprobe(['serve', '--config', configFile, '--shard', '2/2', '--config.check'])]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/4 target\(s\) \(shard 1\/2 runs \d of them\)/);
    expect(outOfRange.code).toBe(2);
  },
};

describe('serve: every documented flag reaches what it names (real CLI, HTTP)', () => {
  it('the table covers exactly the flags serve --help documents', async () => {
    expect((await documentedFlags('serve')).sort()).toEqual(Object.keys(SERVE_FLAGS).sort());
  }, 30_000);
  for (const [flag, check] of Object.entries(SERVE_FLAGS)) it(flag, check, 120_000);

  it('OPTIONS and TRACE get 405 with Allow, like any method a route does not serve', async () => {
    const d = await serve([]);
    for (const method of ['OPTIONS', 'TRACE']) {
      const r = await request(`${d.url}/metrics`, { method });
      expect(r.status, method).toBe(405);
    }
  }, 60_000);
});

// analyze's flags: test/integration/capture-flags.test.ts.
