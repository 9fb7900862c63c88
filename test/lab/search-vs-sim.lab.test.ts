// The simulator must predict the real search (issue 3), and does for inbound by signal and both
// directions from one pool (issues 13, 22). Real OpenSSH behind a conntrack middlebox of T; the
// wall time ÷ T of `idleprobe measure` against what the discrete-event simulator predicts when the
// same search code, with the same options, runs against a model of the same path.
import { afterAll, describe, expect, it } from 'vitest';
import { requireLab, type Lab } from './lab.ts';
import { compareRow, describeComparison, type ComparisonRow } from './search-vs-sim-row.ts';

const env = requireLab();
/** Issue 3's bound on |real − predicted| wall time ÷ T (outbound, T = 20 s). */
const ALLOWED_RATIO_GAP = 0.3;

// Issues 3, 13 and 22: outbound, inbound by signal through the control session, alone and with
// outbound beside it (the default), real sshd behind nft/conntrack; the real wall time against the simulator's
// median for a model of the same server, fed with this run's measured connect latencies (see
// ./search-vs-sim-row.ts). Each row has its own lab; the rows run one after the other. Issue 22
// asks CI for T = 20 and 25 s only: the T = 60 s rows (and repeated runs with their spread) are in
// the lab benchmark, `IDLEPROBE_REQUIRE_LAB=1 npx tsx test/bench/search-vs-sim.lab.bench.ts`.
const ROWS: ComparisonRow[] = [
  { direction: 'outbound', t: 20 },
  { direction: 'inbound', t: 20 },
  { direction: 'both', t: 20 },
  { direction: 'both', t: 25 },
];
/**
 * Issue 22's goal is 10 %. Outbound and both directions meet it with room even with a CPU hog
 * beside the run at load 8–25 (gaps 0.2–0.8 %, 2026-12-07), now that the model forgets a flow at T
 * exactly, as conntrack does. Inbound alone by signal lags on a starved CPU (gaps 15 % and 20 % with
 * the hog, ≤ 1 % quiet): its probes answer late and fail more often near T, an extra latency on the
 * signal path (kill → trap → echo on the server) the replayed connects do not carry; it allows 25 %.
 */
const allowedRelativeGap = (row: ComparisonRow) => (row.direction === 'inbound' ? 0.25 : 0.1);
/**
 * The real default (both directions, one shared pool of sessions) at T = 20 s. Issue 13's goal is
 * 1.6 × T: measured 1.33–1.40 × T (quiet, and with a CPU hog beside it at load 8–25). The bound
 * keeps issue 13's load margin (it was 3.02 × T with the sleep method, ≈ 1.9 × T with 8 + 8 sessions).
 */
const DEFAULT_RATIO_BOUND = 1.75;

describe.skipIf(!env.available)(`search vs simulator${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    for (const l of labs) await l.destroy();
  });

  for (const row of ROWS) {
    it(`${row.direction} at T = ${row.t} s: real wall time within ${allowedRelativeGap(row) * 100} % of the simulator`, async () => {
      const f = await compareRow(row, (lab) => labs.push(lab));
      for (const r of f.doc.results) {
        expect(r.verdict, JSON.stringify(r).slice(0, 2000)).toBe('timeout');
        expect(Math.abs(r.estimateSeconds! - row.t)).toBeLessThanOrEqual(Math.max(1, 0.02 * row.t) + 0.5);
        if (r.direction === 'inbound') expect(r.inboundMethod).toBe('signal');
      }
      console.log(`[lab] search vs sim, ${describeComparison(f)}\n${f.timeline}`);
      expect(Math.abs(f.relativeGap), `real ${f.realRatio.toFixed(3)} vs simulated ${f.predicted.toFixed(3)}; real probes (time@age outcome):\n${f.timeline}`).toBeLessThanOrEqual(allowedRelativeGap(row));
      if (row.direction === 'outbound') expect(Math.abs(f.realRatio - f.predicted), 'issue 3: outbound within 0.3 × T').toBeLessThanOrEqual(ALLOWED_RATIO_GAP);
      if (row.direction === 'both' && row.t === 20) expect(f.realRatio, 'the real default (both directions) at T = 20 s').toBeLessThanOrEqual(DEFAULT_RATIO_BOUND);
    }, 300_000);
  }
});
