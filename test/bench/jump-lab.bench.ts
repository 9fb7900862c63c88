// `idleprobe measure -J` in the netns lab (issue 22, "a jump path: path and leg measured together in
// ≤ 1.5 × max(T_path, T_leg)"). The default measurement (both directions, 16 sessions) through a
// jump host, with a conntrack middlebox of timeout T (silent drop) on one leg:
//
//   box on client→jump:  cli ──box── srv[jump 198.19.1.2:22 → target 127.0.0.1:2222]
//                        the path and the jump leg both time out at T: reference max(T, T) = T
//   box on jump→target:  cli[jump 127.0.0.1:2222] ──box── srv[target 198.19.1.2:22]
//                        the path times out at T; the leg has none: reference T.
//
// The leg is told by the path's own probes (src/cli/jump-leg.ts PathProbeLeg: the jump host asked
// beside each probe), so it is right when it reads `as_path` (box on client→jump) or
// `outlived_path` (box on jump→target) in both directions. With the sleep method the leg would be
// measured beside the path with its own sessions (`--max S` then bounds a leg with no timeout).
//
// Prints, per run, the whole command's wall time (spawn to exit: what the user waits), each
// search's own elapsed time, the brackets, and the ratio wall ÷ reference against the goal 1.5;
// then the median per case. Optional row `direct`: the same path measured without -J (the
// single-target baseline). Needs root, like test/lab. Runs are serial (timing), each bounded.
//
//   npm run bench:jump-lab [-- --t 20,10 --runs 3 --case client-jump --direct --max S]
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import type { JumpLegReport } from '../../src/cli/jump-leg.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { createLab, describeRun, LAB_ADDRESSES, requireLab, type ExecResult, type Lab } from '../lab/lab.ts';
import { median } from '../lab/search-vs-sim-row.ts';

const GOAL = 1.5;
const args = process.argv.slice(2);
const arg = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const timeouts = (arg('--t') ?? '20').split(',').map(Number);
const runs = Number(arg('--runs') ?? '3');
const only = arg('--case') ?? '';
const withDirect = args.includes('--direct');
const maxFlag = arg('--max');
if (timeouts.some((t) => !Number.isFinite(t) || t < 3 || t > 120) || !Number.isInteger(runs) || runs < 1 || runs > 10) {
  console.error('jump-lab bench: --t takes seconds 3–120 (comma-separated), --runs 1–10');
  process.exit(2);
}

const env = requireLab();
if (!env.available) {
  console.error(`jump-lab bench: lab not available: ${env.reason}`);
  process.exit(1);
}

type JumpDoc = MeasurementResult & { path?: string[]; jumpLeg?: JumpLegReport };
type CaseName = 'client-jump' | 'jump-target' | 'direct';

interface Row {
  name: CaseName;
  T: number;
  wallS: number;
  ratio: number;
  line: string;
  ok: boolean;
}

function brackets(m: MeasurementResult): string {
  return m.results
    .map((r) => `${r.direction[0]}:${r.verdict === 'timeout' ? `${r.lowerSeconds ?? '-'}–${r.upperSeconds ?? '-'}` : r.verdict}`)
    .join(' ');
}

/** An ssh_config giving every host the lab's key and known_hosts (the jump host reads its own ssh_config). */
function hopConfig(l: Lab): string {
  const file = path.join(l.tmpDir, 'hops_config');
  writeFileSync(file, `Host *\n  IdentityFile ${l.clientKeyPath}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${l.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n`);
  return file;
}

async function runCase(name: CaseName, T: number): Promise<Row> {
  const l = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
  try {
    // The defaults (both directions, 16 sessions, --max 7440), or --max S for every case.
    const max = maxFlag === undefined ? null : Number(maxFlag);
    const search = ['--json', ...(max === null ? [] : ['--max', String(max)])];
    // Bounded: far past any plausible run (the goal is 1.5 × reference).
    const timeoutMs = (8 * Math.min(max ?? Infinity, 3 * T) + 120) * 1000;
    const common = ['-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath];
    let run: ExecResult;
    if (name === 'client-jump') {
      await l.addSshd('srv', '127.0.0.1', 2222);
      run = await l.idleprobe(['measure', 'root@127.0.0.1:2222', ...common, '-F', hopConfig(l), '-J', `root@${LAB_ADDRESSES.srv}`, ...search], { timeoutMs });
    } else if (name === 'jump-target') {
      await l.addSshd('cli', '127.0.0.1', 2222);
      run = await l.idleprobe(['measure', l.target, ...common, '-F', hopConfig(l), '-J', 'root@127.0.0.1:2222', ...search], { timeoutMs });
    } else {
      run = await l.idleprobe(['measure', l.target, ...common, '--no-ssh-config', ...search], { timeoutMs });
    }
    const wallS = run.elapsedMs / 1000;
    if (run.code !== 0) return { name, T, wallS, ratio: wallS / T, ok: false, line: `FAIL ${name} T=${T}: ${describeRun(run, l)}` };
    const doc = JSON.parse(run.stdout) as JumpDoc;
    const pathOk = doc.results.every((r) => r.verdict === 'timeout' && r.lowerSeconds !== null && r.upperSeconds !== null && r.lowerSeconds < T + 1 && r.upperSeconds > T - 1);
    let legText = '';
    let legOk = true;
    // max(T_path, T_leg) as far as the command had to show it: T, or --max for a leg that had to reach it.
    let reference = T;
    if (doc.jumpLeg) {
      if ('error' in doc.jumpLeg) {
        legOk = false;
        legText = ` leg error: ${doc.jumpLeg.error}`;
      } else if ('outlivedPath' in doc.jumpLeg) {
        const survived = Object.values(doc.jumpLeg.survivedSeconds);
        legOk = name === 'jump-target' && survived.length > 0;
        legText = ` | leg outlived the path: survived ${Object.entries(doc.jumpLeg.survivedSeconds).map(([d, s]) => `${d[0]}:${s}`).join(' ')}`;
      } else if ('byPathProbes' in doc.jumpLeg) {
        const readings = doc.jumpLeg.directions;
        legOk = readings.length > 0 && readings.every((d) => (name === 'client-jump' ? d.reading === 'as_path' && d.verdict === 'timeout' : d.reading === 'outlived_path'));
        legText = ` | leg by the path's probes: ${readings.map((d) => `${d.direction[0]}:${d.reading === 'outlived_path' ? `outlived (${d.survivedSeconds.toFixed(1)} s)` : d.reading}`).join(' ')}`;
      } else {
        const leg = doc.jumpLeg;
        legOk = name === 'client-jump'
          ? leg.results.every((r) => r.verdict === 'timeout' && r.lowerSeconds !== null && r.upperSeconds !== null && r.lowerSeconds < T + 1 && r.upperSeconds > T - 1)
          : leg.results.every((r) => r.verdict === 'no_timeout_up_to_max');
        if (name === 'jump-target') reference = max ?? 7440;
        legText = ` | leg ${brackets(leg)} in ${leg.elapsedSeconds.toFixed(1)} s, ${leg.results[0]?.sessionsOpened ?? 0} sessions`;
      }
    }
    const ok = pathOk && legOk;
    const ratio = wallS / reference;
    const line =
      `${ok ? 'ok  ' : 'BAD '}${name.padEnd(11)} T=${String(T).padStart(3)} ref=${String(reference).padStart(3)} s  wall ${wallS.toFixed(1).padStart(6)} s  ` +
      `= ${ratio.toFixed(2)} × ref (goal ≤ ${GOAL}) | path ${brackets(doc)} in ${doc.elapsedSeconds.toFixed(1)} s, ${doc.results[0]?.sessionsOpened ?? 0} sessions${legText}`;
    return { name, T, wallS, ratio, ok, line };
  } finally {
    await l.destroy();
  }
}

const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`jump-lab bench: T = ${timeouts.join(', ')} s, ${runs} run(s) per case, serial; ${os.cpus().length} CPUs, load average at start ${load()}`);
const cases: CaseName[] = (['client-jump', 'jump-target', ...(withDirect ? ['direct' as const] : [])] as CaseName[]).filter((c) => c.includes(only));
const rows: Row[] = [];
for (const T of timeouts) {
  for (const name of cases) {
    for (let i = 0; i < runs; i++) {
      const row = await runCase(name, T);
      rows.push(row);
      console.log(row.line);
    }
  }
}
console.log(`\nmedian wall ÷ max(T_path, T_leg) per case (goal ≤ ${GOAL}); load average at end ${load()}`);
for (const T of timeouts) {
  for (const name of cases) {
    const mine = rows.filter((r) => r.T === T && r.name === name && r.ok);
    if (mine.length === 0) {
      console.log(`  ${name.padEnd(11)} T=${T}: no good run`);
      continue;
    }
    const rs = mine.map((r) => r.ratio);
    const m = median(rs);
    console.log(`  ${name.padEnd(11)} T=${String(T).padStart(3)}: median ${m.toFixed(2)} (range ${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}, ${mine.length} runs) = ${(m / GOAL).toFixed(2)} × the goal`);
  }
}
process.exit(rows.every((r) => r.ok) ? 0 : 1);
