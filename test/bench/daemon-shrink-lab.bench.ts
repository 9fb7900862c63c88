// Lab benchmark of the daemon after a NAT timeout shrink (issue 22), the real-path twin of
// `npm run bench:daemon-shrink`: a fresh lab per run (client – conntrack NAT – Debian's sshd, see
// test/lab/lab.ts), `idleprobe serve` in the client namespace with one target through the NAT, the
// built-in default module and the sentinel on. It waits (polling /metrics, bounded) until the first
// measurement is exported, then, at a chosen phase of the sentinel's idle period P = 0.9 × T_old
// after that export, cuts the NAT's conntrack timeout T_old → T_new (the router namespace's
// nf_conntrack_tcp_timeout_established, as the lab sets it; entries keep the expiry their last
// packet set, as on a real NAT) and measures the time until /metrics shows the new measurement.
// Needs root, like test/lab; about 2 min per run on a busy 2-core machine:
//
//   IDLEPROBE_REQUIRE_LAB=1 npm run bench:daemon-shrink-lab [-- --runs 3] [--t-old 24] [--t-new 14] [--phases 0.2,0.5,0.8] [--keep DIR]
//
// Per run it prints: the first measurement ÷ T_old, the sentinel's death (idle age; seconds after the
// change), the re-measurement ÷ T_new, the export after the change ÷ issue 22's goal
// T_old + 1.5 × T_new, the exported bracket and whether it holds T_new; then the simulator's figures
// for the same case (test/support/shrink-run.ts: the real daemon over a simulated path, the change at
// 5 phases × 2 seeds) and the load average. serve's log and /api/targets/nat/history of each run
// are written to --keep DIR (default a temp dir, printed) for tracing. Exits 1 if a run failed or exported a
// bracket without T_new. /metrics is polled about once a second from inside the namespace: an
// export time is an upper bound, late by at most one poll (≈ 1–2 s on a busy machine).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLab, describeRun, requireLab, LAB_ADDRESSES, type Lab } from '../lab/lab.ts';
import { serveInLab, type ServeInLab } from '../lab/serve-in-lab.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { runShrink } from '../support/shrink-run.ts';
import { median } from '../lab/search-vs-sim-row.ts';

function option(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
}
function integer(name: string, fallback: string, min: number, max: number): number {
  const raw = option(name, fallback);
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name}: want an integer ${min}–${max}, got "${raw}"`);
  return v;
}

const RUNS = integer('--runs', '3', 1, 20);
const T_OLD = integer('--t-old', '24', 10, 120);
const T_NEW = integer('--t-new', '14', 5, 120);
if (T_NEW >= T_OLD) throw new Error(`--t-new (${T_NEW}) must be below --t-old (${T_OLD}): this bench measures a shrink`);
const PHASES = option('--phases', '0.2,0.5,0.8')
  .split(',')
  .map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v) || v < 0 || v >= 1) throw new Error(`--phases: "${s}" is not a fraction in [0, 1)`);
    return v;
  });
const KEEP = option('--keep', '') || mkdtempSync(path.join(os.tmpdir(), 'daemon-shrink-lab-'));
mkdirSync(KEEP, { recursive: true });

const GOAL_S = T_OLD + 1.5 * T_NEW;
const P_S = 0.9 * T_OLD;
const LISTEN = '127.0.0.1:9931';
/** Bounds of each wait: the first export, the export after the change, the whole serve process. */
const FIRST_EXPORT_LIMIT_MS = 12 * T_OLD * 1000;
const AFTER_CHANGE_LIMIT_MS = (12 * T_OLD + 60) * 1000;
const SERVE_LIMIT_MS = FIRST_EXPORT_LIMIT_MS + AFTER_CHANGE_LIMIT_MS + 60_000;
const POLL_MS = 1000;

const env = requireLab();
if (!env.available) {
  console.error(`daemon-shrink-lab bench: the lab cannot run here: ${env.reason}`);
  process.exit(2);
}

interface Scrape {
  atMs: number;
  /** Per direction: [lower, upper]. */
  brackets: Map<string, [number, number]>;
  lastTimestamp: number | undefined;
  lastDuration: number | undefined;
  deaths: number | undefined;
}

function samples(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels = line.startsWith(`${name}{`) ? line.slice(name.length + 1, line.indexOf('}')) : '';
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}
const direction = (labels: string) => /direction="([^"]+)"/.exec(labels)?.[1] ?? '';

function parse(text: string, atMs: number): Scrape {
  const lows = samples(text, METRIC.timeoutLower);
  const brackets = new Map<string, [number, number]>();
  for (const u of samples(text, METRIC.timeoutUpper)) {
    const l = lows.find((x) => direction(x.labels) === direction(u.labels));
    if (l && Number.isFinite(u.value)) brackets.set(direction(u.labels), [l.value, u.value]);
  }
  const one = (name: string) => samples(text, name).find((s) => s.labels.includes('target="nat"'))?.value;
  return { atMs, brackets, lastTimestamp: one(METRIC.lastMeasurementTimestamp), lastDuration: one(METRIC.lastMeasurementDuration), deaths: one(METRIC.sentinelDeaths) };
}

/** Polls /metrics until `done` holds; bounded in time and count. Throws with serve's output when it does not. */
async function waitFor(serve: ServeInLab, limitMs: number, what: string, done: (s: Scrape) => boolean): Promise<Scrape> {
  const deadline = Date.now() + limitMs;
  for (let i = 0; i < Math.ceil(limitMs / POLL_MS) + 1 && Date.now() < deadline; i++) {
    const ended = serve.ended();
    if (ended) throw new Error(`serve ended while waiting for ${what}:\n${describeRun(ended)}`);
    const r = await serve.get('/metrics');
    if (r.code === 0) {
      const s = parse(r.stdout, Date.now());
      if (done(s)) return s;
    }
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  throw new Error(`no ${what} within ${limitMs / 1000} s`);
}

interface RunFigures {
  phase: number;
  firstS: number;
  firstWallS: number;
  deathIdleS: number | null;
  deathAfterS: number | null;
  deathBounds: string;
  remeasureS: number;
  exportAfterS: number;
  brackets: string;
  holds: boolean;
  load: string;
}

const ts = (line: string) => Date.parse(/^ts=(\S+)/.exec(line)?.[1] ?? '');

async function oneRun(i: number, track: (lab: Lab) => void): Promise<RunFigures> {
  const phase = PHASES[i % PHASES.length];
  const loadBefore = os.loadavg()[0].toFixed(1);
  const lab = await createLab({ conntrackTimeoutSeconds: T_OLD, mode: 'drop' });
  track(lab);
  const config = path.join(lab.tmpDir, 'idleprobe.yml');
  // The default module, the sentinel on; no scheduled run and no jitter so nothing but the
  // startup measurement and the sentinel's re-measurement runs.
  writeFileSync(
    config,
    `global:
  jitter_seconds: 0
targets:
  - name: nat
    host: ${LAB_ADDRESSES.srv}
    user: root
    private_key_file: ${lab.clientKeyPath}
    known_hosts_file: ${lab.knownHostsPath}
    schedule: "0 0 1 1 *"
    sentinel: { enabled: true }
`,
  );
  const startedMs = Date.now();
  const serve = serveInLab(lab, ['--config', config, '--history', path.join(lab.tmpDir, 'history.sqlite')], LISTEN, SERVE_LIMIT_MS);
  try {
    const first = await waitFor(serve, FIRST_EXPORT_LIMIT_MS, 'first measurement on /metrics', (s) => s.brackets.size > 0 && s.lastTimestamp !== undefined);
    // The change at `phase` of the sentinel's idle period after the first export.
    const changeAtMs = first.atMs + phase * P_S * 1000;
    await new Promise((res) => setTimeout(res, Math.max(0, changeAtMs - Date.now())));
    const cut = await lab.exec('mbox', 'sysctl', ['-w', `net.netfilter.nf_conntrack_tcp_timeout_established=${T_NEW}`], { timeoutMs: 10_000 });
    if (cut.code !== 0) throw new Error(`sysctl in the router namespace failed:\n${describeRun(cut)}`);
    const changedMs = Date.now();
    const after = await waitFor(serve, AFTER_CHANGE_LIMIT_MS, 'new measurement on /metrics after the change', (s) => s.lastTimestamp !== undefined && s.lastTimestamp !== first.lastTimestamp && s.brackets.size > 0);
    const api = await serve.get('/api/targets/nat/history');
    const stopped = await serve.stop();
    const log = stopped.stderr;
    writeFileSync(path.join(KEEP, `run-${i + 1}.log`), `${log}\n--- /api/targets/nat/history\n${api.stdout}\n`);
    const died = log.split('\n').find((l) => l.includes('sentinel died'));
    const idle = died ? /died after ([\d.]+) s idle/.exec(died) : null;
    const bounds = died ? /bound the new timeout to (\([\d.]+, [\d.]+\])/.exec(died) : null;
    const brackets = [...after.brackets].map(([d, [l, u]]) => `${d} (${l}, ${u}]`).join(', ');
    return {
      phase,
      firstS: first.lastDuration ?? Number.NaN,
      firstWallS: (first.atMs - startedMs) / 1000,
      deathIdleS: idle ? Number(idle[1]) : null,
      deathAfterS: died ? (ts(died) - changedMs) / 1000 : null,
      deathBounds: bounds ? bounds[1] : '–',
      remeasureS: after.lastDuration ?? Number.NaN,
      exportAfterS: (after.atMs - changedMs) / 1000,
      brackets,
      holds: after.brackets.size > 0 && [...after.brackets.values()].every(([l, u]) => l < T_NEW + 1 && u >= T_NEW),
      load: `${loadBefore} → ${os.loadavg()[0].toFixed(1)}`,
    };
  } catch (err) {
    const stopped = await serve.stop();
    writeFileSync(path.join(KEEP, `run-${i + 1}.log`), `${stopped.stderr}\n--- error\n${(err as Error).message}\n`);
    throw err;
  }
}

const labs: Lab[] = [];
const cleanUp = async () => {
  for (const l of labs.splice(0)) await l.destroy();
};
// lab.ts also tears its labs down synchronously on exit and on SIGINT/SIGTERM/SIGHUP (by PID).

const f = (x: number | null, d = 2) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));
const range = (xs: number[], d = 2) => `${f(median(xs), d)} (${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)})`;

console.log(`daemon after a shrink, real lab: T_old ${T_OLD} s → T_new ${T_NEW} s, goal T_old + 1.5 × T_new = ${GOAL_S} s; P = 0.9 × T_old = ${P_S.toFixed(1)} s; ${os.cpus().length} cores; logs in ${KEEP}`);
const results: RunFigures[] = [];
let bad = 0;
try {
  for (let i = 0; i < RUNS; i++) {
    try {
      const r = await oneRun(i, (lab) => labs.push(lab));
      results.push(r);
      if (!r.holds) bad++;
      console.log(
        `[run ${i + 1}/${RUNS}] change at ${f(r.phase, 1)} P after the first export | first measurement ${f(r.firstS, 1)} s = ${f(r.firstS / T_OLD)} × T_old (exported ${f(r.firstWallS, 1)} s after start) | sentinel died after ${f(r.deathIdleS, 1)} s idle, ${f(r.deathAfterS, 1)} s after the change, bounds ${r.deathBounds} | re-measurement ${f(r.remeasureS, 1)} s = ${f(r.remeasureS / T_NEW)} × T_new | exported ${f(r.exportAfterS, 1)} s after the change = ${f(r.exportAfterS / GOAL_S)} × goal | ${r.brackets} ${r.holds ? 'holds' : 'DOES NOT hold'} ${T_NEW} s | load ${r.load}`,
      );
    } catch (err) {
      bad++;
      console.log(`[run ${i + 1}/${RUNS}] failed: ${(err as Error).message}`);
    }
    await cleanUp();
  }
} finally {
  await cleanUp();
}

if (results.length) {
  console.log(`\nlab, ${results.length} run(s), median (min–max):`);
  console.log(`  first measurement ÷ T_old       ${range(results.map((r) => r.firstS / T_OLD))}`);
  const deaths = results.filter((r) => r.deathAfterS !== null);
  if (deaths.length) console.log(`  sentinel death after change, s  ${range(deaths.map((r) => r.deathAfterS!), 1)} (idle ${range(deaths.map((r) => r.deathIdleS!), 1)} s)`);
  console.log(`  re-measurement ÷ T_new          ${range(results.map((r) => r.remeasureS / T_NEW))}`);
  console.log(`  export after change ÷ goal      ${range(results.map((r) => r.exportAfterS / GOAL_S))} (${range(results.map((r) => r.exportAfterS), 1)} s)`);
}

// The simulator's figures for the same case: runShrink puts the change at 4 × T_old + phase × P
// (after the startup measurement and the sentinel's first periods), 5 phases × 2 seeds.
const sim = [];
for (const phase of [0, 0.2, 0.4, 0.6, 0.8]) for (const seed of [1, 2]) sim.push(await runShrink({ tOld: T_OLD, tNew: T_NEW, changeAtS: 4 * T_OLD + phase * P_S, seed }));
console.log(`simulator (bench:daemon-shrink's case, ${sim.length} runs), median (min–max):`);
console.log(`  sentinel death after change, s  ${range(sim.map((r) => r.diedAfterS), 1)}`);
console.log(`  re-measurement ÷ T_new          ${range(sim.map((r) => r.remeasureS / T_NEW))}`);
console.log(`  export after change ÷ goal      ${range(sim.map((r) => r.exportedAfterS / GOAL_S))} (${range(sim.map((r) => r.exportedAfterS), 1)} s)`);
console.log(`load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (!option('--keep', '')) console.log(`(logs kept in ${KEEP}; remove with rm -r)`);
process.exit(bad === 0 ? 0 : 1);
