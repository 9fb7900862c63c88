// Lab benchmark: the real search against the simulator's prediction (issues 13 and 22), at the T
// that CI does not run (T = 60 s takes minutes per row) and with repeated runs, so a figure comes
// with its spread. Needs the network-namespace lab (root, ip, nft, sshd; see docs/lab.md):
//
//   IDLEPROBE_REQUIRE_LAB=1 npx tsx test/bench/search-vs-sim.lab.bench.ts [--runs N] [--t 20,25,60] [--rows both,inbound] [--silent-deadline-floor MS]
//
// Each run: a fresh lab with conntrack timeout T (silent drop), `idleprobe measure --direction D
// --json` by signal through the real CLI, then the simulator for the same path fed with that run's
// measured connect latencies (test/lab/search-vs-sim-row.ts). Prints per row the real wall time
// ÷ T, the prediction and the relative gap (median and range over runs) and the load average
// before and after; exits 1 if a row's median gap exceeds issue 22's 10 %. The runs go one after
// the other (side by side on 2 cores, the CPU and not the path would be measured).
import os from 'node:os';
import type { Lab } from '../lab/lab.ts';
import { requireLab } from '../lab/lab.ts';
import { compareRow, describeComparison, median, type ComparisonFigures, type ComparisonRow } from '../lab/search-vs-sim-row.ts';
import type { Direction } from '../../src/search/types.ts';
import { silentDeadlineFloorArg } from './silent-deadline-arg.ts';

const GOAL_RELATIVE_GAP = 0.1;

function option(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
}

function parseList<T>(name: string, fallback: string, parse: (s: string) => T | null): T[] {
  const raw = option(name, fallback);
  return raw.split(',').map((s) => {
    const v = parse(s.trim());
    if (v === null) throw new Error(`${name}: "${s}" is not valid (got "${raw}")`);
    return v;
  });
}

const runs = Number(option('--runs', '3'));
if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs: want an integer 1–20, got "${option('--runs', '3')}"`);
const ts = parseList('--t', '20,25,60', (s) => (/^\d+$/.test(s) && Number(s) >= 10 && Number(s) <= 300 ? Number(s) : null));
const directions = parseList<Direction | 'both'>('--rows', 'both,inbound', (s) => (s === 'both' || s === 'inbound' || s === 'outbound' ? s : null));
// `measure --silent-deadline-floor`, given to the real run and to the model (default: the setting's own).
const silentDeadlineFloorMs = silentDeadlineFloorArg(process.argv.slice(2));

const env = requireLab();
if (!env.available) {
  console.error(`search-vs-sim lab bench: the lab cannot run here: ${env.reason}`);
  process.exit(2);
}

const labs: Lab[] = [];
const cleanUp = async () => {
  for (const l of labs.splice(0)) await l.destroy();
};
process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));

const load = () => os.loadavg()[0].toFixed(1);
const table: { row: ComparisonRow; figures: ComparisonFigures[]; loads: string[]; errors: string[] }[] = [];
try {
  for (const t of ts) {
    for (const direction of directions) {
      const entry = { row: { direction, t, ...(silentDeadlineFloorMs !== undefined ? { silentDeadlineFloorMs } : {}) }, figures: [] as ComparisonFigures[], loads: [] as string[], errors: [] as string[] };
      table.push(entry);
      for (let i = 0; i < runs; i++) {
        const before = load();
        try {
          const f = await compareRow(entry.row, (lab) => labs.push(lab));
          entry.figures.push(f);
          console.log(`[run ${i + 1}/${runs}] ${describeComparison(f)} (load ${before} → ${load()})`);
        } catch (err) {
          entry.errors.push((err as Error).message.split('\n')[0]);
          console.log(`[run ${i + 1}/${runs}] ${direction} T=${t} s failed: ${(err as Error).message}`);
        }
        entry.loads.push(`${before}→${load()}`);
        await cleanUp();
      }
    }
  }
} finally {
  await cleanUp();
}

const range = (xs: number[], digits: number) => (xs.length ? `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : '–');
console.log(`\nreal vs simulated, by signal, ${runs} run(s) per row; silent deadline floor ${silentDeadlineFloorMs ?? 'default'}${silentDeadlineFloorMs !== undefined ? ' ms' : ''}; ${os.cpus().length} cores; median (min–max)`);
console.log('| row | T, s | real ÷ T | simulated ÷ T | gap, % | runs ok | load 1 min |');
console.log('|---|---|---|---|---|---|---|');
let failed = false;
for (const e of table) {
  const gaps = e.figures.map((f) => f.relativeGap * 100);
  const ok = e.figures.length > 0 && e.errors.length === 0 && Math.abs(median(gaps)) <= GOAL_RELATIVE_GAP * 100;
  if (!ok) failed = true;
  console.log(
    `| ${e.row.direction} | ${e.row.t} | ${range(e.figures.map((f) => f.realRatio), 2)} | ${range(e.figures.map((f) => f.predicted), 2)} | ${range(gaps, 1)} | ${e.figures.length}/${runs}${ok ? '' : ' MISSED'} | ${e.loads.join(', ')} |`,
  );
}
console.log(`goal: |median gap| ≤ ${GOAL_RELATIVE_GAP * 100} % per row (issue 22) — ${failed ? 'MISSED' : 'met'}`);
process.exit(failed ? 1 : 0);
