// How long `idleprobe measure` lingers after it printed its result (issue 13 follow-up): the time
// from the last byte of stdout to the process' exit, against real OpenSSH behind nft in the lab
// (needs root, like test/lab), both directions (signal method), a run that succeeds and one whose
// probes all fail (every session forgotten by the path: the waiters must be ended through the
// control session). RUNS fresh processes per case, medians and maxima; BIN selects the CLI, so a
// checkout of an older commit can be measured as the baseline:
//   node --import tsx test/bench/exit-after-result.bench.ts [--runs 3] [--bin /other/checkout/bin/idleprobe.mjs]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, requireLab } from '../lab/lab.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const RUNS = Number(arg('--runs', '3'));
const BIN = path.resolve(arg('--bin', path.join(REPO, 'bin', 'idleprobe.mjs')));
const T = 6;

const env = requireLab();
if (!env.available) {
  console.error(`exit-after-result bench: lab not available: ${env.reason}`);
  process.exit(1);
}

interface Timing {
  code: number | null;
  totalMs: number;
  outputToExitMs: number;
}

function run(ns: string, argv: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, ...argv], { cwd: path.dirname(path.dirname(BIN)), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let lastStdoutAt = started;
    child.stdout.on('data', () => (lastStdoutAt = Date.now()));
    child.stderr.resume();
    const limit = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(limit);
      const now = Date.now();
      resolve({ code, totalMs: now - started, outputToExitMs: now - lastStdoutAt });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
try {
  const base = ['measure', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '--json'];
  const cases: [string, string[]][] = [
    ['success (both directions, --min 2 --max 12)', ['--min', '2', '--max', '12']],
    ['every probe fails (--min 8 --max 10, path forgot the sessions)', ['--min', '8', '--max', '10']],
  ];
  console.log(`exit-after-result bench: ${BIN}, lab T = ${T} s (nft drop), ${RUNS} runs per case`);
  for (const [name, extra] of cases) {
    const timings: Timing[] = [];
    for (let i = 0; i < RUNS; i++) timings.push(await run(lab.namespaces.cli, [...base, ...extra]));
    const after = timings.map((t) => t.outputToExitMs);
    console.log(`  ${name}: result printed → exit median ${median(after)} ms, max ${Math.max(...after)} ms; whole run median ${(median(timings.map((t) => t.totalMs)) / 1000).toFixed(1)} s; exit codes ${timings.map((t) => t.code).join(',')}`);
  }
} finally {
  await lab.destroy();
}
