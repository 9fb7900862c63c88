// Benchmark of the live-flow cap (issue 10, item 2): a synthetic capture of 250,000 SYN-only
// connections (17.5 MB, generated here), the worst case for the flow table, through
//   - the CLI: `node bin/idleprobe.mjs analyze FILE --port 0 --json`, peak RSS (goal < 300 MiB),
//   - the daemon: `serve --web.enable-admin-api`, POST /api/analyze with the file; RSS growth of the
//     process (peak during the upload − RSS before it; goal < 150 MiB) and /metrics latency while the
//     upload is analysed (sequential scrapes; goal p99 < 50 ms).
// Baseline: the same runs with the cap lifted (--max-live-flows / --analyze.max-live-flows 10^9),
// i.e. the behaviour before the cap. Each figure is the median of RUNS fresh processes; the ratio is
// capped ÷ baseline. Exits 1 if a goal is missed.
//
//   node --import tsx test/bench/capture-flood.bench.ts [--flows 250000] [--runs 3]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { synFloodPcap } from '../fixtures/captures/synth.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(repo, 'bin', 'idleprobe.mjs');
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const FLOWS = arg('--flows', 250_000);
const RUNS = arg('--runs', 3);
const UNCAPPED = String(1e9);
const MiB = 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Peak RSS of one `analyze` CLI run (read from /proc while it runs: VmHWM is the kernel's peak). */
function cliPeak(file: string, liveFlows: string): Promise<{ peak: number; evicted: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'analyze', file, '--port', '0', '--json', '--max-flows', '1', '--max-live-flows', liveFlows], { stdio: ['ignore', 'pipe', 'inherit'] });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        peak = Math.max(peak, status(child.pid!, 'VmHWM'));
      } catch {
        /* exited */
      }
    }, 20);
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`analyze exited ${code}`));
      const r = JSON.parse(Buffer.concat(out).toString());
      resolve({ peak, evicted: r.flowsEvicted.halfOpen + r.flowsEvicted.idle });
    });
  });
}

function get(url: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
      })
      .on('error', reject);
  });
}

function post(url: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, agent: false, method: 'POST', headers: { 'content-type': 'application/vnd.tcpdump.pcap', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One daemon: RSS growth during the upload and /metrics latencies meanwhile. */
async function daemonRun(file: string, body: Buffer, liveFlows: string): Promise<{ growth: number; p99: number; p50: number; scrapes: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-flood-'));
  fs.writeFileSync(path.join(dir, 'c.yml'), 'targets: []\n');
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--config', path.join(dir, 'c.yml'), '--history', path.join(dir, 'h.sqlite'), '--web.listen-address', '127.0.0.1:0', '--web.enable-admin-api', '--analyze.max-live-flows', liveFlows, '--web.request-timeout', '10m'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('serve did not listen in 30 s')), 30_000);
      createInterface({ input: child.stderr }).on('line', (l) => {
        const m = /listening on (http:\/\/\S+?)"/.exec(l);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    // Warm up (first scrapes compile code paths), then the resting RSS.
    for (let i = 0; i < 20; i++) await get(`${url}/metrics`);
    const before = status(child.pid!, 'VmRSS');
    let peak = before;
    let done = false;
    const upload = post(`${url}/api/analyze?port=22`, body).finally(() => (done = true));
    const latencies: number[] = [];
    while (!done && latencies.length < 100_000) {
      latencies.push(await get(`${url}/metrics`));
      peak = Math.max(peak, status(child.pid!, 'VmHWM'));
    }
    const code = await upload;
    if (code !== 200) throw new Error(`upload answered ${code}`);
    peak = Math.max(peak, status(child.pid!, 'VmHWM'));
    void file;
    return { growth: peak - before, p99: pct(latencies, 99), p50: pct(latencies, 50), scrapes: latencies.length };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-flood-bench-'));
  const file = path.join(dir, 'flood.pcap');
  const body = synFloodPcap(FLOWS);
  fs.writeFileSync(file, body);
  console.log(`capture: ${FLOWS} SYN-only connections, ${(body.length / 1e6).toFixed(1)} MB, ${RUNS} fresh processes per figure (median)`);
  try {
    const cli = { capped: [] as number[], base: [] as number[] };
    let evicted = 0;
    for (let i = 0; i < RUNS; i++) {
      const c = await cliPeak(file, String(10_000));
      cli.capped.push(c.peak);
      evicted = c.evicted;
      cli.base.push((await cliPeak(file, UNCAPPED)).peak);
    }
    const d = { growth: [] as number[], p99: [] as number[], p50: [] as number[], baseGrowth: [] as number[], baseP99: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const c = await daemonRun(file, body, String(10_000));
      d.growth.push(c.growth);
      d.p99.push(c.p99);
      d.p50.push(c.p50);
      const b = await daemonRun(file, body, UNCAPPED);
      d.baseGrowth.push(b.growth);
      d.baseP99.push(b.p99);
    }
    const mib = (x: number) => `${(x / MiB).toFixed(0)} MiB`;
    const rows = [
      ['CLI analyze peak RSS', mib(median(cli.capped)), mib(median(cli.base)), median(cli.capped) / median(cli.base), median(cli.capped) < 300 * MiB, '< 300 MiB'],
      ['daemon RSS growth during upload', mib(median(d.growth)), mib(median(d.baseGrowth)), median(d.growth) / median(d.baseGrowth), median(d.growth) < 150 * MiB, '< 150 MiB'],
      ['/metrics p99 during upload', `${median(d.p99).toFixed(1)} ms`, `${median(d.baseP99).toFixed(1)} ms`, median(d.p99) / median(d.baseP99), median(d.p99) < 50, '< 50 ms'],
    ] as const;
    console.log(`default cap 10000 live flows: ${evicted} connections evicted per run; /metrics p50 during upload ${median(d.p50).toFixed(1)} ms`);
    console.log('figure                              capped      baseline (no cap)   ratio   goal');
    for (const [name, v, b, ratio, ok, goal] of rows) console.log(`${name.padEnd(36)}${v.padEnd(12)}${b.padEnd(20)}${ratio.toFixed(2).padEnd(8)}${goal} ${ok ? 'met' : 'MISSED'}`);
    if (rows.some((r) => !r[4])) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
