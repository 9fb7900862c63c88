// Start-up and whole-process benchmark of the compiled CLI (issue 12), `npm run bench:startup`:
//   - `idleprobe --version` and `--help` wall time (goal ≤ 150 ms), beside a bare `node -e ''`
//     on the same machine (the floor no CLI can beat; on a shared machine it dominates);
//   - `idleprobe analyze` on a 2.3 M-packet capture as a whole process (start-up included) versus
//     a whole process doing only a raw record walk (test/bench/raw-walk.mjs): packets/s ratio,
//     goal ≥ 35 %. CPU time (user+sys of the process, from bash `times`) is the headline figure
//     because the machine is shared; wall time is printed too.
// Medians of RUNS fresh processes. Builds dist/ first so the compiled CLI is what is measured.
//   node --import tsx test/bench/startup.bench.ts [--packets 2300000] [--runs 5] [--startup-only]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesizeBenchCapture } from './capture.bench.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(REPO, 'bin', 'idleprobe.mjs');
const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const PACKETS = arg('--packets', 2_300_000);
const RUNS = arg('--runs', 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One whole process: wall seconds and CPU seconds (user+sys, from bash's `times`). */
function run(cmd: string[]): { wall: number; cpu: number; stdout: string } {
  const started = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', '"$@" > "$OUT"; rc=$?; times; exit $rc', 'bash', ...cmd], {
    encoding: 'utf8',
    env: { ...process.env, OUT: '/dev/null' },
    timeout: 600_000,
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  const childTimes = r.stdout.trim().split('\n').pop()!.split(/\s+/).map((v) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(v);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return { wall, cpu: childTimes[0] + childTimes[1], stdout: r.stdout };
}

function medianOf(cmd: string[]): { wall: number; cpu: number } {
  run(cmd); // warm the page cache and the module cache of the file system
  const all = Array.from({ length: RUNS }, () => run(cmd));
  return { wall: median(all.map((r) => r.wall)), cpu: median(all.map((r) => r.cpu)) };
}

execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ was not built');
const node = process.execPath;
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

const bare = medianOf([node, '-e', '']);
const version = medianOf([node, BIN, '--version']);
const help = medianOf([node, BIN, '--help']);
console.log(`start-up, median of ${RUNS} processes (wall / CPU):`);
console.log(`  node -e ''            ${ms(bare.wall).padStart(8)} / ${ms(bare.cpu)}   (the floor on this machine)`);
for (const [name, m] of [['idleprobe --version', version], ['idleprobe --help', help]] as const) {
  console.log(`  ${name.padEnd(21)} ${ms(m.wall).padStart(8)} / ${ms(m.cpu)}   goal ≤ 150 ms wall: ${m.wall <= 0.15 ? 'met' : 'NOT met'}; ${ms(m.wall - bare.wall)} above bare node`);
}

if (args.includes('--startup-only')) process.exit(0);
const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-startup-bench-'));
try {
  const file = path.join(dir, 'capture.pcap');
  const packets = await synthesizeBenchCapture(file, PACKETS);
  const walk = medianOf([node, path.join(REPO, 'test', 'bench', 'raw-walk.mjs'), file]);
  const analyze = medianOf([node, BIN, 'analyze', file, '--max-flows', '10']);
  const rate = (s: number) => packets / s;
  console.log(`\nwhole processes on a ${packets}-packet capture, median of ${RUNS}:`);
  console.log(`  raw record walk       ${(rate(walk.cpu) / 1e6).toFixed(2)} M packets/s CPU, ${(rate(walk.wall) / 1e6).toFixed(2)} M/s wall`);
  console.log(`  idleprobe analyze     ${(rate(analyze.cpu) / 1e6).toFixed(2)} M packets/s CPU, ${(rate(analyze.wall) / 1e6).toFixed(2)} M/s wall`);
  const cpuRatio = rate(analyze.cpu) / rate(walk.cpu);
  const wallRatio = rate(analyze.wall) / rate(walk.wall);
  console.log(`  analyze / raw walk: ${(cpuRatio * 100).toFixed(0)} % (CPU), ${(wallRatio * 100).toFixed(0)} % (wall); goal ≥ 35 %: ${cpuRatio >= 0.35 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
