// End-to-end: `idleprobe locate` run for real from the client namespace of a cli–r1–r2–r3–srv
// chain (chain.ts) with conntrack boxes at two different hops and plain routers between, against
// Debian's sshd. Small timeouts (4–8 s) keep every case well under two minutes.
import { afterEach, describe, expect, it } from 'vitest';
import { describeRun, requireLab, type ExecResult } from './lab.ts';
import { CHAIN_ADDRESSES, createChainLab, type ChainLab, type ChainOptions } from './chain.ts';

const env = requireLab();
const RUN_LIMIT_MS = 150_000;
const CASE_TIMEOUT_MS = 180_000;
const HOP_ADDRESSES = [CHAIN_ADDRESSES.r1.cliSide, CHAIN_ADDRESSES.r2.cliSide, CHAIN_ADDRESSES.r3.cliSide, CHAIN_ADDRESSES.srv];

interface Doc {
  target: string;
  elapsedSeconds: number;
  pathTimeoutSeconds: number | null;
  hops: { hop: number; address: string | null }[];
  boxes: { hop: number; address: string | null; lowerSeconds: number | null; upperSeconds: number; estimateSeconds: number; failureMode: string | null }[];
  hiddenBefore: number | null;
}

let lab: ChainLab | null = null;
afterEach(async () => {
  await lab?.destroy();
  lab = null;
});

async function locate(options: ChainOptions, args: string[]): Promise<{ doc: Doc; run: ExecResult }> {
  lab = await createChainLab(options);
  const run = await lab.locate(['--min', '2', '--max', '16', '--json', ...args], { timeoutMs: RUN_LIMIT_MS });
  const why = `${describeRun(run)}\nsshd: ${lab.sshdLog().slice(-800)}`;
  expect(run.code, why).toBe(0);
  const doc = JSON.parse(run.stdout) as Doc;
  console.log(`[lab] locate ${JSON.stringify(options.boxes)} ${args.join(' ')}: ${run.elapsedMs} ms, ${JSON.stringify(doc.boxes)}, hiddenBefore=${doc.hiddenBefore}`);
  return { doc, run };
}

/** The box's timeout T lies in its bracket, ±1 s (conntrack expires its entry at T after the last packet). */
function expectBracket(box: Doc['boxes'][number], t: number): void {
  expect(box.upperSeconds).toBeGreaterThanOrEqual(t - 1);
  expect(box.lowerSeconds ?? 0).toBeLessThanOrEqual(t + 1);
  expect(Math.abs(box.estimateSeconds - t)).toBeLessThanOrEqual(1);
}

describe.skipIf(!env.available)(`idleprobe locate in the netns chain${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  it('near box shorter: NAT 4 s at hop 1 and firewall 8 s at hop 3 are both found, with their addresses', async () => {
    const { doc } = await locate({ boxes: { r1: { timeoutSeconds: 4, mode: 'drop', nat: true }, r3: { timeoutSeconds: 8, mode: 'drop' } } }, []);
    expect(Object.keys(doc).sort()).toEqual(['boxes', 'elapsedSeconds', 'hiddenBefore', 'hops', 'pathTimeoutSeconds', 'target']);
    expect(doc.hops).toEqual(HOP_ADDRESSES.map((address, i) => ({ hop: i + 1, address })));
    expect(doc.boxes.map((b) => [b.hop, b.address, b.failureMode])).toEqual([
      [1, CHAIN_ADDRESSES.r1.cliSide, 'silent'],
      [3, CHAIN_ADDRESSES.r3.cliSide, 'silent'],
    ]);
    expectBracket(doc.boxes[0]!, 4);
    expectBracket(doc.boxes[1]!, 8);
    expect(Math.abs(doc.pathTimeoutSeconds! - 4)).toBeLessThanOrEqual(1);
    expect(doc.hiddenBefore).toBe(3);
  }, CASE_TIMEOUT_MS);

  it('far box shorter: firewall 4 s at hop 3 hides the NAT 8 s at hop 1, and says so', async () => {
    const { doc } = await locate({ boxes: { r1: { timeoutSeconds: 8, mode: 'drop', nat: true }, r3: { timeoutSeconds: 4, mode: 'drop' } } }, []);
    expect(doc.boxes.map((b) => b.hop)).toEqual([3]);
    expectBracket(doc.boxes[0]!, 4);
    expect(doc.hiddenBefore).toBe(3);
  }, CASE_TIMEOUT_MS);

  it('a reset box at a hop that never answers ICMP, with --timeout given: hop number, no address, mode reset; human summary', async () => {
    lab = await createChainLab({ boxes: { r2: { timeoutSeconds: 6, mode: 'reset' } }, icmpSilent: ['r2'] });
    const run = await lab.locate(['--min', '2', '--max', '14', '--timeout', '6'], { timeoutMs: RUN_LIMIT_MS });
    expect(run.code, describeRun(run)).toBe(0);
    console.log(`[lab] locate reset r2 6 s --timeout 6: ${run.elapsedMs} ms\n${run.stdout}`);
    expect(run.stdout).toMatch(/^hop 2 \(address unknown: it sent no ICMP time-exceeded\) forgets idle connections after 6\.0 s \(with a reset\); nothing nearer forgets sooner$/m);
    expect(run.stdout).toMatch(/^nothing beyond hop 2 forgets idle connections within 14\.0 s$/m);
    expect(run.stdout).toMatch(/^a box at hop ≤ 2 may have a longer timeout/m);
    expect(run.stdout).toMatch(/hops \(TCP traceroute to port 22\): 1 198\.18\.10\.1 · 2 \* · 3 198\.18\.12\.2 · 4 198\.18\.13\.2/);
  }, CASE_TIMEOUT_MS);
});
