// `idleprobe measure` and `idleprobe demo` as a user runs them (a child process through bin/),
// against the in-process lab: the --json document, the human summary, and the exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { generateEd25519KeyPair } from '../../src/demo/keys.ts';
import { spawn } from 'node:child_process';
import { BIN, countingRelay, idleprobe, show } from './cli-harness.ts';
import { tcpRelay } from '../support/tcp-relay.ts';

const T = 3;

let lab: DemoLab;
let dir: string;
let emptyHome: string;
beforeAll(async () => {
  lab = await startDemoLab({ timeoutSeconds: T, mode: 'reset' });
  dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-cli-'));
  emptyHome = path.join(dir, 'home');
  writeFileSync(path.join(dir, 'wrong_key'), generateEd25519KeyPair().private, { mode: 0o600 });
}, 30_000);
afterAll(async () => {
  await lab?.close();
  rmSync(dir, { recursive: true, force: true });
});

const target = () => `${lab.user}@${lab.host}:${lab.port}`;
const auth = () => ['-i', lab.privateKeyPath, '--host-key', lab.hostKeySha256];

describe.concurrent('idleprobe measure / demo (child process)', () => {
  it('measure --json prints one MeasurementResult document within ±1 s of the middlebox timeout', async () => {
    const run = await idleprobe(['measure', target(), ...auth(), '--min', '1', '--max', '9', '--sessions', '8', '--json'], { timeoutMs: 80_000 });
    expect(run.code, show(run)).toBe(0);
    // Not a TTY: no progress line, no noise on stderr.
    expect(run.stderr).toBe('');
    const doc = JSON.parse(run.stdout);
    expect(doc).toMatchObject({ target: target(), serverHeartbeatSeconds: null });
    expect(typeof doc.elapsedSeconds).toBe('number');
    expect(typeof doc.startedAt).toBe('string');
    expect(doc.results.map((r: { direction: string }) => r.direction).sort()).toEqual(['inbound', 'outbound']);
    for (const r of doc.results) {
      expect(r.verdict).toBe('timeout');
      expect(['silent', 'reset']).toContain(r.failureMode);
      expect(typeof r.lowerSeconds).toBe('number');
      expect(typeof r.upperSeconds).toBe('number');
      expect(Math.abs(r.estimateSeconds - T)).toBeLessThanOrEqual(1);
      expect(r.probes.length).toBeGreaterThan(0);
      for (const p of r.probes) {
        expect(typeof p.ageSeconds).toBe('number');
        expect(['alive', 'reset', 'silent', 'server_closed', 'error']).toContain(p.outcome);
        expect(Number.isNaN(Date.parse(p.at))).toBe(false);
      }
    }
    expect(doc.results.find((r: { direction: string }) => r.direction === 'outbound').failureMode).toBe('reset');
    expect(doc.results.find((r: { direction: string }) => r.direction === 'inbound').inboundMethod).toBe('signal');
    expect(doc.recommendedHeartbeatSeconds).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('--inbound-method sleep uses the fallback and says so (JSON and summary)', async () => {
    const json = await idleprobe(['measure', target(), ...auth(), '--direction', 'inbound', '--inbound-method', 'sleep', '--min', '1', '--max', '5', '--json'], { timeoutMs: 150_000 });
    expect(json.code, show(json)).toBe(0);
    const inbound = JSON.parse(json.stdout).results[0];
    expect(inbound.inboundMethod).toBe('sleep');
    expect(inbound.verdict).toBe('timeout');
    expect(Math.abs(inbound.estimateSeconds - T)).toBeLessThanOrEqual(1);
    const text = await idleprobe(['measure', target(), ...auth(), '--direction', 'inbound', '--sessions', '8', '--min', '1', '--max', '5'], { timeoutMs: 150_000 });
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/inbound probes: by signal through the control session/);
  }, 320_000);

  it('--inbound-method sleep with no timeout below a small --max ends: no_timeout_up_to_max (it used to run for the whole time budget)', async () => {
    // The lab forgets flows after T = 3 s; nothing fails up to 1.5 s. A sleep probe's answer can
    // come a few ms short of the age asked for, which once kept the search re-asking for --max.
    const run = await idleprobe(['measure', target(), ...auth(), '--direction', 'inbound', '--inbound-method', 'sleep', '--min', '1', '--max', '1.5', '--json'], { timeoutMs: 45_000 });
    expect(run.code, show(run)).toBe(0);
    const inbound = JSON.parse(run.stdout).results[0];
    expect(inbound).toMatchObject({ direction: 'inbound', inboundMethod: 'sleep', verdict: 'no_timeout_up_to_max', upperSeconds: null });
    expect(inbound.probes.length).toBeGreaterThan(0);
    for (const p of inbound.probes) expect(p.outcome).toBe('alive');
    expect(inbound.lowerSeconds).toBeGreaterThan(1.3);
  }, 60_000);

  it('a box below --min is an upper bound only: "≤ 5 s, below --min" (JSON belowMin, no estimate), and the recommendation stays below the true timeout', async () => {
    // The lab forgets idle flows after T = 3 s; the shortest age probed is 5 s, so every probe fails.
    const json = await idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '5', '--max', '20', '--json'], { timeoutMs: 80_000 });
    expect(json.code, show(json)).toBe(0);
    const doc = JSON.parse(json.stdout);
    const r = doc.results[0];
    expect(r).toMatchObject({ direction: 'outbound', verdict: 'timeout', belowMin: true, lowerSeconds: null, estimateSeconds: null, failureMode: 'reset' });
    expect(r.upperSeconds).toBeGreaterThanOrEqual(5);
    expect(r.upperSeconds).toBeLessThanOrEqual(6);
    expect(r.reason).toMatch(/at most .* s, at or below --min 5 s/);
    for (const p of r.probes) expect(p.outcome).toBe('reset');
    expect(doc.recommendedHeartbeatSeconds).toBeLessThan(T);
    const text = await idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '5', '--max', '20'], { timeoutMs: 80_000 });
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/outbound +idle timeout ≤ 5(\.\d)? s, below --min/);
    expect(text.stdout).not.toMatch(/≈/);
    expect(text.stdout).toMatch(/Recommendation: heartbeats at most every [12] s/);
    expect(text.stdout).toMatch(/the timeout is below --min, so this comes from its upper bound only/);
  }, 170_000);

  it('measure without --json prints the summary with the recommendation', async () => {
    const run = await idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '1', '--max', '9'], { timeoutMs: 60_000 });
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(/outbound +idle timeout ≈ [234](\.\d)? s/);
    expect(run.stdout).toMatch(/heartbeats at most every \d+ s/);
  }, 70_000);

  it('a reset is explained both ways it happens: a box rejecting the expired flow, or the server answering a flow a NAT re-mapped (demo --mode remap)', async () => {
    const run = await idleprobe(['demo', '--timeout', String(T), '--mode', 'remap', '--direction', 'outbound'], { timeoutMs: 60_000 });
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(/outbound +idle timeout ≈ [234](\.\d)? s .*; idle flows are reset \(an RST: either a box on the path rejects the expired flow, or a NAT re-mapped it to a new port and the server answered the unknown flow/);
  }, 70_000);

  it('an SFTP-only account: inbound "not measurable" says why once, and claims nothing about outbound', async () => {
    const sftp = await startDemoLab({ timeoutSeconds: T, mode: 'reset', noShell: true });
    try {
      const t = `${sftp.user}@${sftp.host}:${sftp.port}`;
      const key = ['-i', sftp.privateKeyPath, '--host-key', sftp.hostKeySha256];
      const [both, inboundOnly] = await Promise.all([
        idleprobe(['measure', t, ...key, '--min', '1', '--max', '9'], { timeoutMs: 80_000 }),
        idleprobe(['measure', t, ...key, '--direction', 'inbound', '--min', '1', '--max', '9'], { timeoutMs: 80_000 }),
      ]);
      for (const run of [both, inboundOnly]) {
        expect(run.code, show(run)).toBe(0);
        const line = run.stdout.split('\n').find((l) => /^ +inbound/.test(l)) ?? '';
        expect(line).toMatch(/^ +inbound +not measurable: the account has no shell \(server said: .*\) — inbound probes need the server to run a command \(--no-inbound skips them\)$/);
        expect(run.stdout.match(/not measurable/g)).toHaveLength(1);
        expect(run.stdout).not.toMatch(/outbound measured/);
      }
      // Outbound is measured when asked for, on its own line; with --direction inbound there is no outbound line at all.
      expect(both.stdout).toMatch(/^ +outbound +idle timeout ≈/m);
      expect(inboundOnly.stdout).not.toMatch(/^ +outbound/m);
      expect(inboundOnly.stdout).toMatch(/Recommendation: none — no path timeout was measured/);
    } finally {
      await sftp.close();
    }
  }, 90_000);

  it('SIGINT ends measure, locate, heartbeat and advise with exit 130 (the documented "interrupted"), sessions closed', async () => {
    const interrupted = async (cmd: string, extra: string[]) => {
      // Interrupted once its first connection reached the lab (its handler is installed before it connects).
      let connected!: () => void;
      const first = new Promise<void>((resolve) => (connected = resolve));
      const relay = await tcpRelay(lab.port, { admit: () => (connected(), true) });
      try {
        const child = spawn(process.execPath, [BIN, cmd, `${lab.user}@127.0.0.1:${relay.port}`, ...auth(), ...extra], { env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        await Promise.race([first, exited]);
        child.kill('SIGINT');
        return { code: await exited, stderr };
      } finally {
        await relay.close();
      }
    };
    const runs = await Promise.all([
      interrupted('measure', ['--min', '1', '--max', '60']),
      interrupted('locate', ['--min', '1', '--max', '60']),
      interrupted('heartbeat', ['--intervals', '1', '--window', '60s']),
      interrupted('advise', ['--min', '1', '--max', '60']),
    ]);
    for (const [i, r] of runs.entries()) {
      expect(r.code, `${['measure', 'locate', 'heartbeat', 'advise'][i]}: ${r.stderr}`).toBe(130);
      expect(r.stderr).toMatch(/idleprobe: interrupted/);
    }
  }, 90_000);

  it('demo --json measures the built-in lab', async () => {
    const run = await idleprobe(['demo', '--timeout', String(T), '--mode', 'silent', '--direction', 'outbound', '--json'], { timeoutMs: 60_000 });
    expect(run.code, show(run)).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0].verdict).toBe('timeout');
    expect(doc.results[0].failureMode).toBe('silent');
    expect(Math.abs(doc.results[0].estimateSeconds - T)).toBeLessThanOrEqual(1);
  }, 70_000);

  it('a wrong host key exits 3 with the offered fingerprint, before any probe session', async () => {
    const wrong = `SHA256:${lab.hostKeySha256[7] === 'A' ? 'B' : 'A'}${lab.hostKeySha256.slice(8)}`;
    // Counted at a relay in front of the lab: the one login check, no probe session after it.
    const relay = await countingRelay(lab.port);
    try {
      const run = await idleprobe(['measure', `${lab.user}@127.0.0.1:${relay.port}`, '-i', lab.privateKeyPath, '--host-key', wrong, '--min', '1', '--max', '9', '--json']);
      expect(run.code, show(run)).toBe(3);
      expect(run.stderr).toMatch(/host key/i);
      expect(run.stderr).toContain(lab.hostKeySha256);
      expect(run.stdout).toBe('');
      expect(relay.total()).toBe(1);
    } finally {
      await relay.close();
    }
  }, 60_000);

  it('a host missing from known_hosts exits 3 (never trusted on first use)', async () => {
    const kh = path.join(dir, 'other_known_hosts');
    writeFileSync(kh, `[${lab.host}]:${lab.port} ${generateEd25519KeyPair().public.split(' ').slice(0, 2).join(' ')}\n`);
    const run = await idleprobe(['measure', target(), '-i', lab.privateKeyPath, '--known-hosts', kh, '--min', '1', '--max', '9']);
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/HOST KEY CHANGED/);
  }, 30_000);

  it('a key the server refuses exits 3 (authentication failed)', async () => {
    const run = await idleprobe(['measure', target(), '-i', path.join(dir, 'wrong_key'), '--host-key', lab.hostKeySha256, '--min', '1', '--max', '9']);
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/authentication failed/i);
  }, 30_000);

  it('a closed port exits 3 (unreachable)', async () => {
    const run = await idleprobe(['measure', `${lab.user}@127.0.0.1:1`, ...auth(), '--min', '1', '--max', '9']);
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/ECONNREFUSED/);
  }, 30_000);

  it('bad usage exits 2 with a message naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['measure'], /missing required argument/i],
      [['measure', target(), ...auth(), '--min', 'soon'], /--min/],
      [['measure', target(), ...auth(), '--min', '10', '--max', '5'], /--max/],
      [['measure', target(), ...auth(), '--direction', 'up'], /--direction/],
      [['measure', target(), ...auth(), '--known-hosts', lab.knownHostsPath], /either --host-key or --known-hosts/],
      [['measure', target(), '-i', path.join(dir, 'missing_key'), '--host-key', lab.hostKeySha256], /-i: cannot read .*missing_key \(ENOENT\)/],
      [['demo', '--mode', 'teleport'], /--mode/],
      [['measure', target(), ...auth(), '--inbound-method', 'telepathy'], /--inbound-method must be signal or sleep, got "telepathy"/],
      // The one range of the `sessions` setting (its schema), for every command that takes it.
      [['measure', target(), ...auth(), '--sessions', '65'], /--sessions must be an integer 1–64, got "65"/],
      [['measure', target(), ...auth(), '--sessions', '0'], /--sessions must be an integer 1–64, got "0"/],
      [['locate', target(), ...auth(), '--sessions', '65'], /--sessions must be an integer 1–64, got "65"/],
      // One inbound method: a command is the sleep method's; --no-inbound leaves nothing to choose.
      [['measure', target(), ...auth(), '--inbound-method', 'signal', '--inbound-command', 'sleep {d}; echo x'], /--inbound-method signal and --inbound-command contradict/],
      [['measure', target(), ...auth(), '--inbound-method', 'sleep', '--no-inbound'], /--inbound-method and --no-inbound contradict/],
      [['measure', target(), ...auth(), '--inbound-command', 'sleep 5'], /--inbound-command must contain \{d\}.*got "sleep 5"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => idleprobe(args, { env: { HOME: emptyHome } })));
    runs.forEach((run, i) => {
      expect(run.code, `${cases[i][0].join(' ')}\n${show(run)}`).toBe(2);
      expect(run.stderr, cases[i][0].join(' ')).toMatch(cases[i][1]);
    });
  }, 60_000);
});
