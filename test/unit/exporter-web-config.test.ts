// --web.config.file (exporter-toolkit format): validation messages, and real TLS listeners with
// every client_auth_type, a min_version, and certificates made by openssl for this test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadWebConfig, type ClientAuthType } from '../../src/exporter/web-config.ts';
import { exitCodeFor } from '../../src/cli/errors.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { DEFAULT_GLOBAL } from '../../src/daemon/config.ts';
import { parseListenAddress } from '../../src/daemon/listen-address.ts';
import { exporterOf } from '../support/exporter.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-webcfg-'));
const f = (name: string) => path.join(dir, name);

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`cannot run openssl (Debian package openssl) to make test certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA, a server cert for 127.0.0.1, a client cert from the CA and one self-signed (untrusted). */
function makeCerts(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=idleprobe test CA']);
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=prometheus']);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext']);
  openssl(['req', '-x509', ...ec, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=rogue']);
}

function problemsOf(yaml: string): string {
  const file = f(`w${Math.random().toString(36).slice(2)}.yml`);
  fs.writeFileSync(file, yaml);
  try {
    loadWebConfig(file);
    return '';
  } catch (err) {
    expect(exitCodeFor(err)).toBe(2);
    return (err as Error).message;
  }
}

type Result = { status: number } | { error: string };
function get(port: number, opts: { cert?: string; maxVersion?: 'TLSv1.2' } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/-/healthy',
        ca: fs.readFileSync(f('ca.crt')),
        ...(opts.cert ? { cert: fs.readFileSync(f(`${opts.cert}.crt`)), key: fs.readFileSync(f(`${opts.cert}.key`)) } : {}),
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
  });
}

describe('web config', () => {
  const apps: FastifyInstance[] = [];
  const daemon = new Daemon({ config: { global: DEFAULT_GLOBAL, modules: {}, targets: [] }, measure: async () => { throw new Error('unused'); } });

  beforeAll(() => {
    makeCerts();
    daemon.start();
  }, 30_000);
  afterAll(async () => {
    for (const a of apps) await a.close();
    await daemon.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serve(clientAuth: ClientAuthType | null, extra = ''): Promise<number> {
    const file = f(`web-${clientAuth}-${apps.length}.yml`);
    fs.writeFileSync(
      file,
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n${clientAuth ? `  client_auth_type: ${clientAuth}\n  client_ca_file: ca.crt\n` : ''}${extra}`,
    );
    const app = await buildApp({ ...exporterOf(daemon), webConfig: loadWebConfig(file) });
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return (app.server.address() as { port: number }).port;
  }

  it('validates with field paths and refuses plain-text passwords', () => {
    expect(problemsOf('tls_server_config:\n  cert_file: a\n')).toContain('tls_server_config.key_file: is required');
    expect(problemsOf('basic_auth_users:\n  prom: hunter2\n')).toContain('basic_auth_users.prom: must be a bcrypt hash ($2y$...), not a plain password');
    expect(problemsOf('basic_auth_users:\n  prom: hunter2\n')).not.toContain('hunter2\n');
    expect(problemsOf('tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n')).toContain('tls_server_config.cert_file: cannot read nope.crt (ENOENT)');
    expect(problemsOf('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n')).toContain(
      'tls_server_config.client_ca_file: is required when client_auth_type is RequireAndVerifyClientCert',
    );
    expect(problemsOf('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS99\n')).toContain('tls_server_config.min_version: must be one of TLS10, TLS11, TLS12, TLS13');
    expect(problemsOf('tls_config: {}\n')).toContain('tls_config: unknown field');
    expect(problemsOf('basic_auth_users:\n  prom: $2y$10$wCt3jT0Xw2l1b0gGyX6v4eQn0m7c3v9sQ5xD0z5v2b8m1n4c6x8zS\n')).toBe('');
  });

  it('deploy/web-config.example.yml is valid apart from the certificate files it points to', () => {
    const example = fs.readFileSync(path.join(__dirname, '..', '..', 'deploy', 'web-config.example.yml'), 'utf8');
    const problems = problemsOf(example).split('\n').slice(1).map((l) => l.trim());
    expect(problems).toEqual([
      'tls_server_config.cert_file: cannot read /etc/idleprobe/tls/server.crt (ENOENT)',
      'tls_server_config.key_file: cannot read /etc/idleprobe/tls/server.key (ENOENT)',
      'tls_server_config.client_ca_file: cannot read /etc/idleprobe/tls/prometheus-ca.crt (ENOENT)',
    ]);
  });

  it('serves HTTPS without client certs (NoClientCert)', async () => {
    const port = await serve(null);
    expect(await get(port)).toEqual({ status: 200 });
  });

  it('RequireAndVerifyClientCert: the handshake fails without a trusted client cert', async () => {
    const port = await serve('RequireAndVerifyClientCert');
    expect(await get(port, { cert: 'client' })).toEqual({ status: 200 });
    expect('error' in (await get(port))).toBe(true);
    expect('error' in (await get(port, { cert: 'rogue' }))).toBe(true);
  });

  it('RequireAnyClientCert: any cert, but a cert', async () => {
    const port = await serve('RequireAnyClientCert');
    expect(await get(port, { cert: 'rogue' })).toEqual({ status: 200 });
    expect(await get(port)).toEqual({ status: 403 });
  });

  it('VerifyClientCertIfGiven: none is fine, an untrusted one is not', async () => {
    const port = await serve('VerifyClientCertIfGiven');
    expect(await get(port)).toEqual({ status: 200 });
    expect(await get(port, { cert: 'client' })).toEqual({ status: 200 });
    expect(await get(port, { cert: 'rogue' })).toEqual({ status: 403 });
  });

  it('min_version TLS13 refuses a TLS 1.2 client', async () => {
    const port = await serve(null, '  min_version: TLS13\n');
    expect(await get(port)).toEqual({ status: 200 });
    expect('error' in (await get(port, { maxVersion: 'TLSv1.2' }))).toBe(true);
  });
});

describe('listen address', () => {
  it('parses the Prometheus forms and rejects the rest', () => {
    expect(parseListenAddress(':9923')).toEqual({ host: null, port: 9923 });
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:9923')).toEqual({ host: '::1', port: 9923 });
    expect(parseListenAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(() => parseListenAddress('9923')).toThrow(/expected \[host\]:port/);
    expect(() => parseListenAddress(':70000')).toThrow(/port must be <= 65535/);
  });
});
