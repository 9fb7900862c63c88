// Benchmark of the daemon after a shrink (issue 22): the real daemon (scheduler, sentinel,
// measurement job, history; test/support/sim-daemon.ts) over a simulated conntrack path (1 s GC
// ticks, silent drop) whose timeout is cut from T_old to T_new mid-run, in virtual time.
// Deterministic.   npm run bench:daemon-shrink  [-- --configs baseline,default,s3]
//
// Grid: T_old 24 / 60 / 300 s × T_new 0.3 / 0.5 / 0.7 / 0.8 × T_old × the change at 5 points of
// the sentinel's idle period P (0.9 × T_old) × 2 seeds, for each sentinel config asked for:
// baseline (one session, the re-measurement with the module's 8 sessions: before issue 22's
// sentinel work), default (2 staggered sessions, re-measurement with 16), s3 / s4 (3 / 4 sessions),
// floor1s (the default with the target's silent_deadline_floor_ms at 1000: docs/search.md, "The
// silent deadline").
// Per T_old and T_new it prints, over phases and seeds: when the sentinel died after the change
// (median, max, in seconds), the re-measurement ÷ T_new (median, max), the export (death +
// re-measurement) after the change ÷ issue 22's goal T_old + 1.5 × T_new (median, max), and the
// share of runs whose final bracket holds T_new. The floor of any sentinel design is printed beside
// it: a session refreshed before the change keeps its old expiry, so a death needs a refresh after
// the change and then an idle period (≥ P / sessions after the change in the worst phase, + P), and
// a re-measurement needs a fresh session to idle past T_new and its silence to be waited out.
// Baseline: the `baseline` config.
import { runShrink, type ShrinkRun } from '../support/shrink-run.ts';

const args = process.argv.slice(2);
/** A sentinel config, and the target's silent deadline floor in ms when it is not the default. */
const CONFIGS: Record<string, { sentinel: { sessions: number; remeasure_sessions?: number }; floorMs?: number }> = {
  baseline: { sentinel: { sessions: 1, remeasure_sessions: 8 } },
  default: { sentinel: { sessions: 2 } },
  s3: { sentinel: { sessions: 3 } },
  s4: { sentinel: { sessions: 4 } },
  floor1s: { sentinel: { sessions: 2 }, floorMs: 1000 },
};
const configsArg = args.indexOf('--configs') >= 0 ? args[args.indexOf('--configs') + 1] : 'baseline,default';
const NAMES = configsArg.split(',');
for (const n of NAMES) if (!CONFIGS[n]) throw new Error(`--configs: unknown config "${n}" (known: ${Object.keys(CONFIGS).join(', ')})`);
const T_OLDS = [24, 60, 300];
const RATIOS = [0.3, 0.5, 0.7, 0.8];
const PHASES = [0, 0.2, 0.4, 0.6, 0.8];
const SEEDS = [1, 2];
/** The default module's silent deadline floor, s. */
const DEFAULT_DEADLINE_S = 3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (x: number, d = 2) => x.toFixed(d);

async function main(): Promise<void> {
  const worst: Record<string, number[]> = {};
  console.log('  config  T_old  T_new | died after change s (med  max) | remeasure/T_new (med  max) | export/(T_old+1.5 T_new) (med  max) | floor/goal worst phase | right');
  for (const name of NAMES) {
    const { sentinel, floorMs } = CONFIGS[name];
    const sessions = sentinel.sessions;
    const deadlineS = floorMs === undefined ? DEFAULT_DEADLINE_S : floorMs / 1000;
    worst[name] = [];
    for (const tOld of T_OLDS) {
      for (const ratio of RATIOS) {
        const tNew = Math.round(tOld * ratio * 10) / 10;
        const runs: ShrinkRun[] = [];
        for (const phase of PHASES) {
          for (const seed of SEEDS) {
            runs.push(await runShrink({ tOld, tNew, changeAtS: 4 * tOld + phase * 0.9 * tOld, seed, sentinel, ...(floorMs !== undefined ? { silentDeadlineFloorMs: floorMs } : {}) }));
          }
        }
        const goal = tOld + 1.5 * tNew;
        const died = runs.map((r) => r.diedAfterS);
        const re = runs.map((r) => r.remeasureS / tNew);
        const ex = runs.map((r) => r.exportedAfterS / goal);
        const right = runs.filter((r) => r.deaths === 1 && r.lower !== null && r.upper !== null && r.lower < tNew + 1 && r.upper >= tNew).length / runs.length;
        const p = 0.9 * tOld;
        const floor = p / sessions + p + deadlineS + tNew + deadlineS;
        worst[name].push(Math.max(...ex));
        console.log(
          `${name.padStart(8)}  ${String(tOld).padStart(5)}  ${String(tNew).padStart(5)} | ${f(median(died), 1).padStart(22)} ${f(Math.max(...died), 1).padStart(6)} | ${f(median(re)).padStart(20)} ${f(Math.max(...re)).padStart(5)} | ${f(median(ex)).padStart(30)} ${f(Math.max(...ex)).padStart(5)} | ${f(floor / goal).padStart(22)} | ${f(right * 100, 0)} %`,
        );
      }
    }
  }
  for (const n of NAMES) console.log(`${n}: export ÷ goal, worst run ${f(Math.max(...worst[n]))}, median over cells of each cell's worst ${f(median(worst[n]))}`);
}

await main();
