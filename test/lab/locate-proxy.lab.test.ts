// End-to-end (issue 23 item 4): `idleprobe locate` through a real proxy load balancer — Debian's
// HAProxy in `mode tcp` on a router of the cli–r1–r2–r3–srv chain (chain.ts), handed the clients'
// SSH connections by an nft redirect, in front of Debian's sshd. TCP ends at the proxy, so the
// TTL-limited keepalives locate relies on are answered by the proxy's kernel and never refresh its
// idle timer: every session dies at its timeout whatever its TTL. The CLI must say so — "a proxy
// that ignores TCP keepalives closes idle connections after T s; it cannot be located by TTL" —
// with T right (±max(1 s, 2 %)), where TCP ends, no invented hop, in about T plus the verification.
// Also `option nolinger` (RST), and a 5 s NAT nearer than the proxy (located; the proxy beyond it).
// Each case has its own chain and its own HAProxy (started and stopped by the test, by PID).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRun, requireLab, type ExecResult } from './lab.ts';
import { CHAIN_ADDRESSES, createChainLab, type ChainLab, type ChainOptions, type ChainRouter } from './chain.ts';
import { HAPROXY_BINARY, startHaproxyOn, type RunningHaproxy } from './haproxy.ts';
import type { LocateDocument } from '../../src/probe/locate.ts';

const labEnv = requireLab();
// In CI (IDLEPROBE_REQUIRE_LAB=1) a missing haproxy fails the file (startHaproxyOn names the package); elsewhere it skips with the reason.
const env = !labEnv.available || existsSync(HAPROXY_BINARY) || process.env.IDLEPROBE_REQUIRE_LAB === '1' ? labEnv : { available: false, reason: `${HAPROXY_BINARY} not found (Debian package haproxy)` };
const RUN_LIMIT_MS = 120_000;
const CASE_TIMEOUT_MS = 200_000;

/** HAProxy on a router of the chain, in front of the chain's sshd (TCP ends at that router's hop). */
function proxyOn(lab: ChainLab, router: ChainRouter, opts: { timeoutSeconds: number; nolinger?: boolean }): Promise<RunningHaproxy> {
  return startHaproxyOn(
    { namespace: lab.names[router], tmpDir: lab.tmpDir, exec: (cmd, args, o) => lab.exec(router, cmd, args, o), listen: CHAIN_ADDRESSES[router].cliSide, server: CHAIN_ADDRESSES.srv, clientInterface: 'cliside' },
    opts,
  );
}

/** A chain with a proxy on `router`, destroyed (proxy first) whatever happens. */
async function withProxyChain<T>(options: ChainOptions, router: ChainRouter, proxy: { timeoutSeconds: number; nolinger?: boolean }, body: (lab: ChainLab, haproxy: RunningHaproxy) => Promise<T>): Promise<T> {
  const lab = await createChainLab(options);
  let haproxy: RunningHaproxy | null = null;
  try {
    haproxy = await proxyOn(lab, router, proxy);
    return await body(lab, haproxy);
  } finally {
    await haproxy?.stop();
    await lab.destroy();
  }
}

function parse(run: ExecResult, lab: ChainLab, haproxy: RunningHaproxy): LocateDocument {
  expect(run.code, `${describeRun(run)}\nhaproxy: ${haproxy.log().slice(-1500)}\nsshd: ${lab.sshdLog().slice(-800)}`).toBe(0);
  return JSON.parse(run.stdout) as LocateDocument;
}

/** T to ±max(1 s, 2 %), as locate reports every timeout. */
function expectNear(value: number | null | undefined, t: number): void {
  expect(value).not.toBeNull();
  expect(value).toBeDefined();
  expect(Math.abs(value! - t)).toBeLessThanOrEqual(Math.max(1, 0.02 * t));
}

describe.skipIf(!env.available).concurrent(`idleprobe locate through HAProxy in the netns chain${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  it('HAProxy (mode tcp, FIN) at hop 2: not locatable by TTL, its timeout right, TCP ends at hop 2, no box, within 3 × T', async () => {
    const T = 10;
    await withProxyChain({ boxes: {} }, 'r2', { timeoutSeconds: T }, async (lab, haproxy) => {
      const run = await lab.locate(['--json', '--min', '2', '--max', '40'], { timeoutMs: RUN_LIMIT_MS });
      const doc = parse(run, lab, haproxy);
      console.log(`[lab] locate through HAProxy ${T} s at r2: ${run.elapsedMs} ms, ${JSON.stringify(doc.unlocatable)}`);
      expect(doc.verdict).toBe('proxy_not_locatable');
      expect(doc.reason).toMatch(/^a proxy that ignores TCP keepalives closes idle connections after ≈ \d+\.\d s; it cannot be located by TTL/);
      expect(doc.boxes).toEqual([]);
      expect(doc.hiddenBefore).toBeNull();
      // The traceroute's SYN is answered at hop 2 (the proxy answers with the server's address);
      // hop 1 is the last to send time-exceeded.
      expect(doc.hops).toEqual([
        { hop: 1, address: CHAIN_ADDRESSES.r1.cliSide },
        { hop: 2, address: CHAIN_ADDRESSES.srv },
      ]);
      expect(doc.unlocatable).toMatchObject({ beyondHop: 0, tcpEndsAtHop: 2, tcpEndsAtAddress: CHAIN_ADDRESSES.srv, closesIdle: true, failureMode: 'closed' });
      expectNear(doc.unlocatable!.estimateSeconds, T);
      expectNear(doc.pathTimeoutSeconds, T);
      // Bounded: the whole run (login, traceroute, the search and its verification) within 3 × T.
      expect(doc.elapsedSeconds).toBeLessThanOrEqual(3 * T);
      expect(run.elapsedMs).toBeLessThanOrEqual(3 * T * 1000 + 10_000);
      expect(run.stderr).toMatch(/idleprobe: proxy not locatable: a proxy that ignores TCP keepalives/);
    });
  }, CASE_TIMEOUT_MS);

  it('HAProxy with option nolinger at hop 3: the same reading in the text summary, FIN then RST or RST', async () => {
    const T = 10;
    await withProxyChain({ boxes: {} }, 'r3', { timeoutSeconds: T, nolinger: true }, async (lab, haproxy) => {
      const run = await lab.locate(['--min', '2', '--max', '40'], { timeoutMs: RUN_LIMIT_MS });
      expect(run.code, `${describeRun(run)}\nhaproxy: ${haproxy.log().slice(-1500)}`).toBe(0);
      console.log(`[lab] locate through HAProxy nolinger ${T} s at r3: ${run.elapsedMs} ms\n${run.stdout}`);
      const m = /^a proxy that ignores TCP keepalives closes idle connections after ≈ (\d+\.\d) s; it cannot be located by TTL$/m.exec(run.stdout);
      expect(m, run.stdout).not.toBeNull();
      expectNear(Number(m![1]), T);
      expect(run.stdout).toMatch(/^ {2}every session was (closed \(FIN, no SSH disconnect\)|reset \(RST\)) by the far end at that idle age whatever its TTL, even at hop 3 where TCP ends; bracket/m);
      expect(run.stdout).toMatch(/^ {2}TCP ends at hop 3: the traceroute's SYN is answered there by 198\.18\.13\.2; hop 2 \(198\.18\.11\.2\) is the last to answer time-exceeded; what closes is at hop 3 or behind it$/m);
      expect(run.stdout).toMatch(/^hops \(TCP traceroute to port 22\): 1 198\.18\.10\.1 · 2 198\.18\.11\.2 · 3 198\.18\.13\.2$/m);
      // No box invented, at hop 1 or anywhere.
      expect(run.stdout).not.toMatch(/^hop \d+ \(/m);
      expect(run.elapsedMs).toBeLessThanOrEqual(3 * T * 1000 + 10_000);
    });
  }, CASE_TIMEOUT_MS);

  it('a NAT of 5 s at hop 1 nearer than HAProxy (12 s) at hop 3: the NAT is located, the proxy measured beyond it', async () => {
    await withProxyChain({ boxes: { r1: { timeoutSeconds: 5, mode: 'drop', nat: true } } }, 'r3', { timeoutSeconds: 12 }, async (lab, haproxy) => {
      const run = await lab.locate(['--json', '--min', '2', '--max', '40'], { timeoutMs: RUN_LIMIT_MS });
      const doc = parse(run, lab, haproxy);
      console.log(`[lab] locate NAT 5 s r1, HAProxy 12 s r3: ${run.elapsedMs} ms, boxes ${JSON.stringify(doc.boxes)}, ${JSON.stringify(doc.unlocatable)}`);
      expect(doc.verdict).toBe('located');
      expect(doc.boxes.map((b) => [b.hop, b.address, b.failureMode])).toEqual([[1, CHAIN_ADDRESSES.r1.cliSide, 'silent']]);
      expectNear(doc.boxes[0].estimateSeconds, 5);
      expectNear(doc.pathTimeoutSeconds, 5);
      expect(doc.unlocatable).toMatchObject({ beyondHop: 1, tcpEndsAtHop: 3, tcpEndsAtAddress: CHAIN_ADDRESSES.srv, closesIdle: true, failureMode: 'closed' });
      expectNear(doc.unlocatable!.estimateSeconds, 12);
      expect(doc.reason).toMatch(/^beyond hop 1, a proxy that ignores TCP keepalives closes idle connections after ≈ 1[12]\.\d s; it cannot be located by TTL/);
    });
  }, CASE_TIMEOUT_MS);
});
