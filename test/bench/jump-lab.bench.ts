// Lab benchmark: `measure` through a jump host (issue 22's goal: path and leg measured together in
// ≤ 1.5 × max(T_path, T_leg)). Needs the network-namespace lab (root, ip, nft, sshd; docs/lab.md):
//
//   IDLEPROBE_REQUIRE_LAB=1 npm run bench:jump-lab -- [--runs N] [--t 20] [--cases near,far] [--max S]
//
// Two layouts, each a fresh lab whose middlebox forgets idle flows after T (silent drop):
//   near: the box on client→jump   cli ──box── srv[jump 198.19.1.2:22 → target 127.0.0.1:2222]
//         (the jump leg is the short one: T_path = T_leg = T)
//   far:  the box on jump→target   cli[jump 127.0.0.1:2222] ──box── srv[target 198.19.1.2:22]
//         (the path times out at T, the client→jump leg does not)
// Each run is the default `measure TARGET -J JUMP --json` (both directions, the CLI's session
// budget) through the real CLI; `--max S` is passed on only when given. Prints per run the
// command's wall time ÷ T, what the path and the leg answered, and the median (min–max) per layout
// with the machine's load; exits 1 if a run fails or a layout's median misses 1.5 × T. The runs go
// one after the other (side by side on 2 cores the CPU and not the path would be measured).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLab, describeRun, LAB_ADDRESSES, requireLab, type Lab } from '../lab/lab.ts';
import type { DirectionResult, MeasurementResult } from '../../src/search/types.ts';
import type { JumpLegOutlived } from '../../src/probe/jump-leg.ts';

const GOAL_RATIO = 1.5;
type Case = 'near' | 'far';
type JumpDoc = MeasurementResult & { path: string[]; jumpLeg: MeasurementResult | JumpLegOutlived | { target: string; error: string } };

function option(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
}

const runs = Number(option('--runs', '2'));
if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs: want an integer 1–20, got "${option('--runs', '2')}"`);
const t = Number(option('--t', '20'));
if (!Number.isInteger(t) || t < 5 || t > 300) throw new Error(`--t: want whole seconds 5–300, got "${option('--t', '20')}"`);
const cases = option('--cases', 'near,far').split(',').map((s): Case => {
  if (s !== 'near' && s !== 'far') throw new Error(`--cases: "${s}" is neither near nor far`);
  return s;
});
const maxArg = option('--max', '');
if (maxArg && !/^\d+$/.test(maxArg)) throw new Error(`--max: want whole seconds, got "${maxArg}"`);
// A run that has not ended by then is killed and counted as failed (the default --max is 2 h).
const runLimitMs = (maxArg ? Number(maxArg) * 4 : 12 * t) * 1000 + 120_000;

const env = requireLab();
if (!env.available) {
  console.error(`jump lab bench: the lab cannot run here: ${env.reason}`);
  process.exit(2);
}

const labs: Lab[] = [];
const cleanUp = async () => {
  for (const l of labs.splice(0)) await l.destroy();
};
process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));

/** jump hosts log in with their own ssh_config, as with `ssh -J` */
function hopConfig(l: Lab): string {
  const file = path.join(l.tmpDir, 'hops_config');
  writeFileSync(file, `Host *\n  IdentityFile ${l.clientKeyPath}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${l.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n`);
  return file;
}

const describe = (r: Pick<DirectionResult, "direction" | "verdict" | "lowerSeconds" | "upperSeconds" | "elapsedMs">) =>
  r.verdict === 'timeout' ? `${r.direction} (${r.lowerSeconds?.toFixed(2)}, ${r.upperSeconds?.toFixed(2)}] in ${(r.elapsedMs / 1000).toFixed(1)} s` : `${r.direction} ${r.verdict}${r.lowerSeconds !== null ? ` ≥ ${r.lowerSeconds.toFixed(1)}` : ''} in ${(r.elapsedMs / 1000).toFixed(1)} s`;

async function runOnce(which: Case): Promise<{ ratio: number; line: string }> {
  const l = await createLab({ conntrackTimeoutSeconds: t, mode: 'drop' });
  labs.push(l);
  const extra = maxArg ? ['--max', maxArg] : [];
  let run;
  if (which === 'near') {
    await l.addSshd('srv', '127.0.0.1', 2222);
    run = await l.idleprobe(['measure', 'root@127.0.0.1:2222', '-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath, '-F', hopConfig(l), '-J', `root@${LAB_ADDRESSES.srv}`, '--json', ...extra], { timeoutMs: runLimitMs });
  } else {
    await l.addSshd('cli', '127.0.0.1', 2222);
    run = await l.measure(['-F', hopConfig(l), '-J', 'root@127.0.0.1:2222', '--json', ...extra], { timeoutMs: runLimitMs });
  }
  if (run.code !== 0) throw new Error(`measure did not exit 0\n${describeRun(run, l)}`);
  const doc = JSON.parse(run.stdout) as JumpDoc;
  const wall = run.elapsedMs / 1000;
  const j = doc.jumpLeg;
  const leg =
    'error' in j
      ? `error: ${j.error}`
      : 'outlivesPath' in j
        ? `outlives the path (${j.outlivesPath.map((o) => `${o.direction} alive at ${o.aliveAtSeconds.toFixed(1)} s > ${o.pathUpperSeconds.toFixed(2)}`).join(', ')}), stopped after ${j.elapsedSeconds.toFixed(1)} s`
        : j.results.map(describe).join(', ');
  return { ratio: wall / t, line: `${wall.toFixed(1)} s = ${(wall / t).toFixed(2)} × T; path ${doc.results.map(describe).join(', ')}; leg ${leg}` };
}

const load = () => os.loadavg()[0].toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const table: { which: Case; ratios: number[]; errors: number; loads: string[] }[] = [];
try {
  for (const which of cases) {
    const entry = { which, ratios: [] as number[], errors: 0, loads: [] as string[] };
    table.push(entry);
    for (let i = 0; i < runs; i++) {
      const before = load();
      try {
        const r = await runOnce(which);
        entry.ratios.push(r.ratio);
        console.log(`[${which} ${i + 1}/${runs}] T = ${t} s: ${r.line} (load ${before} → ${load()})`);
      } catch (err) {
        entry.errors++;
        console.log(`[${which} ${i + 1}/${runs}] T = ${t} s failed: ${(err as Error).message}`);
      }
      entry.loads.push(`${before}→${load()}`);
      await cleanUp();
    }
  }
} finally {
  await cleanUp();
}

console.log(`\nmeasure -J, both directions, T = ${t} s${maxArg ? `, --max ${maxArg}` : ', default --max'}; ${runs} run(s) per layout; wall ÷ T, median (min–max)`);
console.log('| layout | wall ÷ T | runs ok | load 1 min |');
console.log('|---|---|---|---|');
let failed = false;
for (const e of table) {
  const ok = e.errors === 0 && e.ratios.length > 0 && median(e.ratios) <= GOAL_RATIO;
  if (!ok) failed = true;
  const fig = e.ratios.length ? `${median(e.ratios).toFixed(2)} (${Math.min(...e.ratios).toFixed(2)}–${Math.max(...e.ratios).toFixed(2)})` : '–';
  console.log(`| ${e.which === 'near' ? 'box on client→jump' : 'box on jump→target'} | ${fig} | ${e.ratios.length}/${runs}${ok ? '' : ' MISSED'} | ${e.loads.join(', ')} |`);
}
console.log(`goal: median ≤ ${GOAL_RATIO} × T per layout (issue 22) — ${failed ? 'MISSED' : 'met'}`);
process.exit(failed ? 1 : 0);
