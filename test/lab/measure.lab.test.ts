// End-to-end: `idleprobe measure` run for real in the client namespace against Debian's sshd
// behind a conntrack middlebox (issue 2, "Tests"). The middlebox forgets a flow 8 s after its last
// packet; the search is bounded by --min 2 --max 20/30 so every case ends well under a minute.
import { afterAll, describe, expect, it } from 'vitest';
import type { MeasurementResult } from '../../src/search/types.ts';
import { createLab, describeRun, requireLab, type ExecResult, type Lab, type LabOptions } from './lab.ts';

const env = requireLab();
const CONNTRACK_TIMEOUT_S = 8;
/** Hard limit of one CLI run; a correct search of T = 8 s (both directions) needs far less. */
const RUN_LIMIT_MS = 75_000;
const CASE_TIMEOUT_MS = 90_000;

type DirResult = MeasurementResult['results'][number];

function parseResult(run: ExecResult, lab: Lab): MeasurementResult {
  if (run.code !== 0) throw new Error(`idleprobe measure did not exit 0\n${describeRun(run, lab)}`);
  try {
    return JSON.parse(run.stdout) as MeasurementResult;
  } catch {
    throw new Error(`idleprobe measure --json did not print one JSON document\n${describeRun(run, lab)}`);
  }
}

function byDirection(result: MeasurementResult, direction: 'outbound' | 'inbound'): DirResult {
  const found = result.results.find((r) => r.direction === direction);
  if (!found) throw new Error(`no ${direction} result in ${JSON.stringify(result)}`);
  return found;
}

/** One line per case for the report: what was measured and how long it took. */
function logFigures(name: string, result: MeasurementResult): void {
  const dirs = result.results
    .map((r) => `${r.direction}: ${r.verdict} (${r.lowerSeconds}, ${r.upperSeconds}] est=${r.estimateSeconds} mode=${r.failureMode} probes=${r.probes.length} sessions=${r.sessionsOpened}`)
    .join('; ');
  console.log(`[lab] ${name}: elapsed ${result.elapsedSeconds.toFixed(1)} s; ${dirs}; serverHeartbeat=${result.serverHeartbeatSeconds}`);
}

/**
 * Seconds between the server's unsolicited packets on an idle `ssh … sleep` session, measured by
 * tcpdump on the server's interface: the median gap (≥ 1 s) between server segments carrying data.
 */
async function wireServerHeartbeatSeconds(l: Lab, idleSeconds: number): Promise<number | null> {
  const stop = new AbortController();
  // tcpdump says "listening on …" once attached: the session starts after that (bounded, fails loudly).
  let said = '';
  let listening!: () => void;
  const attached = new Promise<void>((resolve) => (listening = resolve));
  const dump = l.exec('srv', 'tcpdump', ['-n', '-tt', '-l', '-i', 'srv0', '-c', '200', `tcp src port 22 and src host ${l.addresses.srv}`], {
    timeoutMs: (idleSeconds + 15) * 1000,
    signal: stop.signal,
    onStderr: (chunk) => {
      said = (said + chunk).slice(-2000);
      if (/listening on/.test(said)) listening();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([attached.then(() => true), dump.then(() => false), new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
  clearTimeout(timer);
  if (!ready) {
    stop.abort();
    throw new Error(`tcpdump did not report "listening on" within 10 s: ${said}`);
  }
  const session = await l.ssh(`sleep ${idleSeconds}; echo done`, [], { timeoutMs: (idleSeconds + 10) * 1000 });
  stop.abort();
  const { stdout } = await dump;
  expect(session.stdout, `${describeRun(session, l)}\ntcpdump:\n${stdout}`).toBe('done\n');
  const dataTimes = stdout
    .split('\n')
    .filter((line) => /length [1-9]\d*$/.test(line))
    .map((line) => Number(line.split(' ')[0]) * 1000);
  const gaps: number[] = [];
  for (let i = 1; i < dataTimes.length; i++) if (dataTimes[i] - dataTimes[i - 1] >= 1000) gaps.push(dataTimes[i] - dataTimes[i - 1]);
  // The last gap ends with the command's own output, not a heartbeat.
  gaps.pop();
  if (gaps.length === 0) return null;
  gaps.sort((a, b) => a - b);
  return Math.round(gaps[gaps.length >> 1] / 100) / 10;
}

describe.skipIf(!env.available).concurrent(`idleprobe measure in the netns lab${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    await Promise.all(labs.map((lab) => lab.destroy()));
  });
  async function lab(options: LabOptions): Promise<Lab> {
    const created = await createLab(options);
    labs.push(created);
    return created;
  }

  it('(1) silent drop: both directions find 8 s ± 1 s, failure mode silent', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop' });
    const run = await l.measure(['--direction', 'both', '--min', '2', '--max', '30', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const result = parseResult(run, l);
    logFigures('silent drop', result);
    expect(result.target).toContain('198.19.1.2');
    for (const direction of ['outbound', 'inbound'] as const) {
      const r = byDirection(result, direction);
      expect(r.verdict, `${direction}: ${JSON.stringify(r)}`).toBe('timeout');
      expect(r.failureMode, direction).toBe('silent');
      expect(Math.abs(r.estimateSeconds! - CONNTRACK_TIMEOUT_S), `${direction} estimate ${r.estimateSeconds}`).toBeLessThanOrEqual(1);
      // The bracket must be consistent with the probes it reports: the longest survivor below
      // the shortest failure, and it must contain the real timeout (to the 1 s precision).
      expect(r.lowerSeconds!).toBeLessThan(r.upperSeconds!);
      expect(r.lowerSeconds!).toBeLessThanOrEqual(CONNTRACK_TIMEOUT_S + 1);
      expect(r.upperSeconds!).toBeGreaterThanOrEqual(CONNTRACK_TIMEOUT_S - 1);
      expect(r.probes.some((p) => p.outcome === 'silent' && p.ageSeconds > CONNTRACK_TIMEOUT_S)).toBe(true);
      expect(r.probes.some((p) => p.outcome === 'alive' && p.ageSeconds < CONNTRACK_TIMEOUT_S)).toBe(true);
    }
    expect(result.serverHeartbeatSeconds).toBeNull();
    expect(result.recommendedHeartbeatSeconds).not.toBeNull();
    expect(result.recommendedHeartbeatSeconds!).toBeLessThan(CONNTRACK_TIMEOUT_S);
  }, CASE_TIMEOUT_MS);

  it('(2) reject with tcp reset: 8 s ± 1 s, outbound failure mode reset', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'reset' });
    const run = await l.measure(['--direction', 'both', '--min', '2', '--max', '30', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const result = parseResult(run, l);
    logFigures('reset', result);
    const outbound = byDirection(result, 'outbound');
    expect(outbound.verdict, JSON.stringify(outbound)).toBe('timeout');
    expect(outbound.failureMode).toBe('reset');
    expect(Math.abs(outbound.estimateSeconds! - CONNTRACK_TIMEOUT_S)).toBeLessThanOrEqual(1);
    expect(outbound.probes.some((p) => p.outcome === 'reset')).toBe(true);
    // Inbound, the server speaks first: its packet meets the expired flow and the middlebox
    // resets the *server*; the client hears nothing unless it sends something itself. So the
    // timeout is found either way, and the mode is reset or silent depending on whether the
    // prober follows a silent inbound probe with a packet of its own.
    const inbound = byDirection(result, 'inbound');
    expect(inbound.verdict, JSON.stringify(inbound)).toBe('timeout');
    expect(Math.abs(inbound.estimateSeconds! - CONNTRACK_TIMEOUT_S)).toBeLessThanOrEqual(1);
    expect(['reset', 'silent']).toContain(inbound.failureMode);
  }, CASE_TIMEOUT_MS);

  it('(3) sshd ClientAliveInterval 3 (< middlebox 8 s): reported as masked, with the heartbeat seen on the wire', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop', sshdOptions: { ClientAliveInterval: '3', ClientAliveCountMax: '3' } });
    // Oracle: the server's unsolicited heartbeats as tcpdump sees them at the server. (Debian's
    // OpenSSH 9.2 with ClientAliveInterval 3 puts one on the wire every ~6 s, not 3 — we compare
    // with what really happens, which is also below the middlebox's 8 s.)
    const wire = await wireServerHeartbeatSeconds(l, 14);
    expect(wire, 'tcpdump saw no server heartbeat').not.toBeNull();
    expect(wire!).toBeLessThan(CONNTRACK_TIMEOUT_S);
    const run = await l.measure(['--direction', 'both', '--min', '2', '--max', '20', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const result = parseResult(run, l);
    logFigures(`ClientAliveInterval 3 (wire interval ${wire} s)`, result);
    expect(result.serverHeartbeatSeconds, JSON.stringify(result)).not.toBeNull();
    // OpenSSH 9.2 leaves 3 s (ClientAliveInterval) after our own traffic and 6 s on an idle wire
    // (server-heartbeat.ts). With both directions in one shared pool the search can be done
    // (masked) before any session idled through a 6 s gap, so what it saw may be the 3 s one.
    const seen = result.serverHeartbeatSeconds!;
    expect(Math.abs(seen - wire!) <= 1 || Math.abs(seen - 3) <= 0.5, `reported ${seen} s, wire ${wire} s`).toBe(true);
    for (const r of result.results) {
      // Not a false "no timeout", and not the middlebox's 8 s (which the heartbeats hide).
      expect(r.verdict, `${r.direction}: ${JSON.stringify(r)}`).toBe('masked');
      expect(r.reason).toBeTruthy();
    }
  }, CASE_TIMEOUT_MS);

  it('(4) no middlebox timeout within --max 20: no_timeout_up_to_max', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'none' });
    const run = await l.measure(['--direction', 'both', '--min', '2', '--max', '20', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const result = parseResult(run, l);
    logFigures('no timeout', result);
    for (const r of result.results) {
      expect(r.verdict, `${r.direction}: ${JSON.stringify(r)}`).toBe('no_timeout_up_to_max');
      expect(r.upperSeconds).toBeNull();
      expect(r.failureMode).toBeNull();
      // It really waited up to --max on the wire (to the 1 s precision), not assumed it.
      expect(r.lowerSeconds!).toBeGreaterThanOrEqual(19);
      expect(r.probes.some((p) => p.outcome === 'alive' && p.ageSeconds >= 19), JSON.stringify(r)).toBe(true);
      // A probe that failed for another reason (seen once on a heavily loaded machine) must not
      // have turned into a timeout: the verdict above already says so; list it for the log.
      const odd = r.probes.filter((p) => p.outcome !== 'alive');
      if (odd.length > 0) console.log(`[lab] no timeout, ${r.direction}: non-alive probes ${JSON.stringify(odd)}`);
    }
    expect(result.recommendedHeartbeatSeconds).toBeNull();
  }, CASE_TIMEOUT_MS);

  it('a wrong pinned host key is an error (exit 3), never a timeout', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop' });
    // A well-formed fingerprint of a different key: the real one with its first character changed.
    const real = l.hostKeySha256;
    const wrong = `SHA256:${real[7] === 'A' ? 'B' : 'A'}${real.slice(8)}`;
    const run = await l.measure(['--host-key', wrong, '--min', '2', '--max', '20', '--json'], { pinning: 'none', timeoutMs: 30_000 });
    expect(run.code, describeRun(run, l)).toBe(3);
    expect(run.stderr).toMatch(/host.?key/i);
    expect(run.stdout).not.toMatch(/"verdict"\s*:\s*"timeout"/);
    expect(run.elapsedMs).toBeLessThan(20_000);
  }, 40_000);

  it('a closed port is unreachable (exit 3)', async () => {
    const l = await lab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop' });
    // The connect fails first (as in ssh): the refusal is reported, whatever the host key source says.
    const run = await l.idleprobe(
      ['measure', `${l.target}:2222`, '-i', l.clientKeyPath, '--host-key', l.hostKeySha256, '--min', '2', '--max', '20', '--json'],
      { timeoutMs: 30_000 },
    );
    expect(run.code, describeRun(run, l)).toBe(3);
    expect(run.stderr).toMatch(/:2222: cannot connect \(ECONNREFUSED/);
    expect(run.elapsedMs).toBeLessThan(20_000);
  }, 40_000);
});
