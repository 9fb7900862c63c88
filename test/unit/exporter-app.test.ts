// Every HTTP route and its errors, through fastify's inject, against the real daemon core (measure
// function injected at the prober boundary, manual cron) and the real capture analyser.
import { instantClock, settle } from '../support/settle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import { Daemon } from '../../src/daemon/daemon.ts';
import { loadConfigFile } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn } from '../../src/daemon/runner.ts';
import type { MeasureOptions, TargetSpec } from '../../src/probe/target.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { analyzeUpload } from '../../src/app/wiring.ts';
import { exporterOf } from '../support/exporter.ts';
import { job } from '../support/jobs.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';

const PIN = `SHA256:${'D'.repeat(43)}`;
const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-app-'));
const configFile = path.join(dir, 'idleprobe.yml');

const goodConfig = (names: string[]) =>
  `global:\n  jitter_seconds: 0\n  max_upload_bytes: 4096\nmodules:\n  fast:\n    directions: [outbound]\ntargets:\n${names
    .map((n) => `  - { name: ${n}, host: 127.0.0.1, port: 2222, user: u, use_agent: true, host_key_sha256: "${PIN}", module: fast }\n`)
    .join('')}`;

function result(spec: TargetSpec): MeasurementResult {
  return {
    target: spec.name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: 2,
    results: [
      {
        direction: 'outbound',
        verdict: 'timeout',
        lowerSeconds: 9,
        upperSeconds: 11,
        estimateSeconds: 10,
        failureMode: 'reset',
        probes: [
          { ageSeconds: 9, outcome: 'alive', at: new Date().toISOString(), sessionId: `${spec.name}#1` },
          { ageSeconds: 11, outcome: 'reset', at: new Date().toISOString(), sessionId: `${spec.name}#2` },
        ],
        consistency: 1,
        sessionsOpened: 2,
        maxConcurrentSessions: 2,
        elapsedMs: 2000,
        reason: null,
      },
    ],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: 5,
  };
}

/** Ethernet pcap with a global header and no packets. */
function emptyPcap(): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(65535, 16);
  b.writeUInt32LE(1, 20);
  return b;
}

describe('exporter HTTP routes', () => {
  let daemon: Daemon;
  let app: FastifyInstance;
  const measured: string[] = [];
  let release: (() => void) | null = null;
  let holdNext = false;

  beforeAll(async () => {
    fs.writeFileSync(configFile, goodConfig(['alpha', 'beta']));
    const measure: MeasureFn = (spec: TargetSpec, opts: MeasureOptions) => {
      measured.push(`${spec.host}:${spec.port}/${spec.name}`);
      if (!holdNext) return Promise.resolve(result(spec));
      holdNext = false;
      return new Promise((resolve, reject) => {
        release = () => resolve(result(spec));
        opts.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    };
    daemon = new Daemon({ config: loadConfigFile(configFile), configFile, measure, cron: noCron, clock: instantClock() });
    app = await buildApp({ ...exporterOf(daemon), enableAdminApi: true, enableLifecycle: true, analyze: analyzeUpload });
    daemon.start();
    // Every startup measurement finished: the daemon has nothing left to do.
    await settle();
    expect(daemon.snapshots().every((s) => MEASUREMENT.of(s)?.latestOk)).toBe(true);
  });
  afterAll(async () => {
    await app.close();
    await daemon.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GET / lists targets with their latest bracket', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.body).toContain('alpha');
    expect(r.body).toContain('(9, 11] s ≈ 10 s, reset');
    expect(r.body).toContain('cached results of measurements that take minutes');
  });

  it('GET /metrics serves the exposition format; other methods get 405 with Allow', async () => {
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(r.body).toContain(`${METRIC.timeoutEstimate}{target="alpha",direction="outbound"} 10`);
    const gz = await app.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect((await import('node:zlib')).gunzipSync(gz.rawPayload).toString()).toContain(`${METRIC.timeoutEstimate}{target="alpha",direction="outbound"} 10`);
    const p = await app.inject({ method: 'POST', url: '/metrics' });
    expect(p.statusCode).toBe(405);
    expect(p.headers.allow).toBe('GET, HEAD');
    expect(p.json().error).toContain('method not allowed');
  });

  it('GET /probe returns one configured target as a fresh registry, never measuring anything', async () => {
    const before = measured.length;
    const r = await app.inject({ method: 'GET', url: '/probe?target=alpha&module=fast' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain(`${METRIC.timeoutUpper}{target="alpha",direction="outbound"} 11`);
    expect(r.body).not.toContain('target="beta"');
    expect(r.body).not.toContain('process_cpu');
    const unknown = await app.inject({ method: 'GET', url: '/probe?target=198.18.9.9' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('target "198.18.9.9" is not configured');
    expect(measured.length).toBe(before);
  });

  it('GET /probe input errors: 400 with a message', async () => {
    const cases: [string, number, RegExp][] = [
      ['/probe', 400, /must have required property 'target'/],
      ['/probe?target=has%20space', 400, /querystring\/target must match pattern/],
      ['/probe?target=alpha&module=nosuch', 400, /unknown module "nosuch"/],
      ['/probe?target=alpha&module=default', 400, /measured with module "fast", not "default"/],
      ['/probe?target=alpha&debug=maybe', 400, /querystring\/debug must be boolean/],
    ];
    for (const [url, status, msg] of cases) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(status);
      expect(r.json().error, url).toMatch(msg);
    }
  });

  it('GET /probe&debug=true shows the last run with its probes', async () => {
    const r = await app.inject({ method: 'GET', url: '/probe?target=alpha&debug=true' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('Probes of the last run:');
    expect(r.body).toContain('session alpha#2 age 11 s → reset');
    expect(r.body).toContain('Metrics that would have been returned:');
  });

  it('GET /api/targets and history', async () => {
    const t = await app.inject({ method: 'GET', url: '/api/targets' });
    expect(t.statusCode).toBe(200);
    const alpha = t.json().targets.find((x: { name: string }) => x.name === 'alpha');
    expect(alpha).toMatchObject({ host: '127.0.0.1', port: 2222, module: 'fast', up: 1, counters: { measurements: 1 } });
    expect(alpha.latest.results[0]).toMatchObject({ direction: 'outbound', lowerSeconds: 9, upperSeconds: 11, failureMode: 'reset' });
    expect(JSON.stringify(t.json())).not.toContain('privateKey');

    const h = await app.inject({ method: 'GET', url: '/api/targets/alpha/history?limit=5' });
    expect(h.statusCode).toBe(200);
    expect(h.json().entries[0].result.results[0].probes).toHaveLength(2);
    expect((await app.inject({ method: 'GET', url: '/api/targets/alpha/history?limit=0' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/targets/alpha/history?limit=abc' })).json().error).toMatch(/limit must be integer/);
    expect((await app.inject({ method: 'GET', url: '/api/targets/nobody/history' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/targets/alpha/history' })).statusCode).toBe(405);
    expect((await app.inject({ method: 'POST', url: '/api/targets' })).statusCode).toBe(405);
  });

  it('POST /api/measure/:name starts a run (202), refuses a second one (409), unknown 404, GET 405', async () => {
    holdNext = true;
    const r = await app.inject({ method: 'POST', url: '/api/measure/beta' });
    expect(r.statusCode).toBe(202);
    expect(r.json()).toEqual({ target: 'beta', status: 'started' });
    await settle(); // the held run reached the measure function
    expect(release).not.toBeNull();
    const again = await app.inject({ method: 'POST', url: '/api/measure/beta' });
    expect(again.statusCode).toBe(409);
    release!();
    await daemon.settled('beta', 'measurement');
    expect(job(MEASUREMENT, daemon.snapshot('beta')).counters.runs).toBe(2);
    expect((await app.inject({ method: 'POST', url: '/api/measure/nobody' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/api/measure/bad%20name' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/measure/beta' })).statusCode).toBe(405);
  });

  it('POST /api/analyze streams a capture into the analyser; bad input 400, too large 413', async () => {
    const ok = await app.inject({ method: 'POST', url: '/api/analyze?port=22', headers: { 'content-type': 'application/vnd.tcpdump.pcap' }, payload: emptyPcap() });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toHaveProperty('flows');
    const bad = await app.inject({ method: 'POST', url: '/api/analyze', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('this is not a capture file at all') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/bad capture input/);
    const big = Buffer.concat([emptyPcap(), Buffer.alloc(8192)]);
    const tooBig = await app.inject({ method: 'POST', url: '/api/analyze', headers: { 'content-type': 'application/octet-stream' }, payload: big });
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error).toContain('4096-byte upload limit');
    const wrongType = await app.inject({ method: 'POST', url: '/api/analyze', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(wrongType.statusCode).toBe(400);
    const badPort = await app.inject({ method: 'POST', url: '/api/analyze?port=70000', headers: { 'content-type': 'application/octet-stream' }, payload: emptyPcap() });
    expect(badPort.statusCode).toBe(400);
    expect(badPort.json().error).toMatch(/port must be <= 65535/);
    expect((await app.inject({ method: 'GET', url: '/api/analyze' })).statusCode).toBe(405);
  });

  it('streamed uploads without a length are cut at the limit too', async () => {
    const { Readable } = await import('node:stream');
    const chunks = [emptyPcap(), ...Array.from({ length: 10 }, () => Buffer.alloc(1024))];
    const r = await app.inject({
      method: 'POST',
      url: '/api/analyze',
      headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      payload: Readable.from(chunks),
    });
    expect(r.statusCode).toBe(413);
  });

  it('/-/healthy, /-/ready, unknown route', async () => {
    expect((await app.inject({ method: 'GET', url: '/-/healthy' })).body).toBe('Healthy\n');
    expect((await app.inject({ method: 'GET', url: '/-/ready' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/-/healthy' })).statusCode).toBe(405);
    const nf = await app.inject({ method: 'GET', url: '/nope' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json().error).toBe('no route GET /nope');
  });

  it('POST /-/reload applies a good file, keeps the old config on a bad one, and other methods get 405', async () => {
    expect((await app.inject({ method: 'GET', url: '/-/reload' })).statusCode).toBe(405);
    fs.writeFileSync(configFile, goodConfig(['alpha', 'gamma']));
    const ok = await app.inject({ method: 'POST', url: '/-/reload' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'reloaded', added: ['gamma'], removed: ['beta'], unchanged: ['alpha'] });
    let metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('target="beta"');
    expect(metrics).toContain(`${METRIC.configReloadSuccess} 1`);

    fs.writeFileSync(configFile, 'targets:\n  - name: x\n    host: h\n    user: u\n    port: 0\n');
    const bad = await app.inject({ method: 'POST', url: '/-/reload' });
    expect(bad.statusCode).toBe(500);
    // The details (file and key paths) go to the log and --config.check, not into the HTTP body.
    expect(bad.json().error).toMatch(/^config reload failed; the running config stays/);
    expect(bad.body).not.toContain(configFile);
    expect(bad.body).not.toContain('targets[0]');
    expect(daemon.reloadStatus.lastError).toContain('targets[0].port: must be >= 1');
    metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`${METRIC.configReloadSuccess} 0`);
    expect(metrics).toContain('target="alpha"');
    expect(daemon.targetNames().sort()).toEqual(['alpha', 'gamma']);
  });
});

describe('exporter basic auth', () => {
  it('requires a configured user with the right password (bcrypt), 401 otherwise', async () => {
    const daemon = new Daemon({ config: { global: (await import('../../src/daemon/config.ts')).DEFAULT_GLOBAL, modules: {}, targets: [] }, measure: async () => { throw new Error('unused'); }, cron: noCron });
    const hash = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$'); // htpasswd writes $2y$
    const app = await buildApp({ ...exporterOf(daemon), enableAdminApi: true, enableLifecycle: true, webConfig: { tls: null, basicAuthUsers: new Map([['prom', hash]]), headers: {} } });
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    // Not started yet: alive but not ready.
    const notReady = await app.inject({ method: 'GET', url: '/-/ready', headers: { authorization: basic('prom', 's3cret') } });
    expect(notReady.statusCode).toBe(503);
    daemon.start();
    const none = await app.inject({ method: 'GET', url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="idleprobe"');
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: basic('prom', 'wrong') } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: basic('nobody', 's3cret') } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: basic('prom', 's3cret') } })).statusCode).toBe(200);
    // Cached: the second success does not pay bcrypt again (and stays correct).
    expect((await app.inject({ method: 'GET', url: '/-/healthy', headers: { authorization: basic('prom', 's3cret') } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/-/healthy', headers: { authorization: 'Bearer x' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/-/ready', headers: { authorization: basic('prom', 's3cret') } })).statusCode).toBe(200);
    await daemon.shutdown();
    expect((await app.inject({ method: 'GET', url: '/-/ready', headers: { authorization: basic('prom', 's3cret') } })).statusCode).toBe(503);
    await app.close();
  });
});
