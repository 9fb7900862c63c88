// Preloaded into a benchmarked `serve` (node --import ./test/bench/daemon-probe.mjs) to see inside
// it without changing it: the event loop's delay (perf_hooks.monitorEventLoopDelay), its
// utilisation, the CPU time and run-queue wait of its threads (/proc/self/task/*/schedstat: time
// a runnable thread waited for a CPU, i.e. the machine's share of a slow answer), the server-side
// time of each /metrics request (its headers parsed → its response handed to the kernel, through
// Node's http diagnostics channels), and CPU profiles
// (node:inspector) of chosen windows. Commands come one per line on fd 3 (a pipe the benchmark
// opens), each answered with one JSON line there:
//   sample            → the figures since the previous sample (which starts the next window)
//   profile-start     → starts the CPU profiler
//   profile-stop FILE → stops it and writes the .cpuprofile to FILE
// Plain JS: loaded by node itself, before the CLI (which may run compiled dist/ or through tsx).
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import net from 'node:net';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const RESOLUTION_MS = 2;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
histogram.enable();
let elu = performance.eventLoopUtilization();
let cpu = process.cpuUsage();
let threads = schedstat();

// Server-side /metrics times of the window (bounded: a window of 10 s at 20 scrapes/s holds 200).
const started = new WeakMap();
let scrapeMs = [];
diagnostics.subscribe('http.server.request.start', ({ request, response }) => {
  if (request.url?.startsWith('/metrics')) started.set(response, performance.now());
});
diagnostics.subscribe('http.server.response.finish', ({ response }) => {
  const t0 = started.get(response);
  if (t0 !== undefined && scrapeMs.length < 100_000) scrapeMs.push(performance.now() - t0);
});

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null);

/** Per thread (by name): ns on a CPU and ns runnable but waiting for one, since the thread started. */
function schedstat() {
  const out = new Map();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      out.set(tid, { name, run, wait });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Event-loop delay in ms: the histogram holds the timer's period plus its delay. */
const delay = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

function sample() {
  const now = schedstat();
  const main = String(process.pid);
  let otherRun = 0;
  let otherWait = 0;
  const byName = {};
  for (const [tid, t] of now) {
    const before = threads.get(tid) ?? { run: 0, wait: 0 };
    const run = (t.run - before.run) / 1e6;
    const wait = (t.wait - before.wait) / 1e6;
    if (tid !== main) {
      otherRun += run;
      otherWait += wait;
      const k = t.name.replace(/\d+$/, '#');
      byName[k] = (byName[k] ?? 0) + run;
    }
  }
  const m = now.get(main);
  const m0 = threads.get(main);
  const eluNow = performance.eventLoopUtilization(elu);
  const scrapes = scrapeMs.sort((a, b) => a - b);
  scrapeMs = [];
  const out = {
    metricsServerMs: { n: scrapes.length, p50: pct(scrapes, 50), p99: pct(scrapes, 99), max: scrapes.at(-1) ?? null },
    loopDelayMs: { p50: delay(histogram.percentile(50)), p99: delay(histogram.percentile(99)), max: delay(histogram.max), samples: histogram.count },
    loopUtilization: eluNow.utilization,
    cpuMs: (() => {
      const d = process.cpuUsage(cpu);
      return (d.user + d.system) / 1000;
    })(),
    mainThread: { runMs: (m.run - m0.run) / 1e6, waitMs: (m.wait - m0.wait) / 1e6 },
    otherThreads: { runMs: otherRun, waitMs: otherWait, byName },
  };
  histogram.reset();
  elu = performance.eventLoopUtilization();
  cpu = process.cpuUsage();
  threads = now;
  return out;
}

let session = null;

async function handle(line) {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'sample') return sample();
  if (cmd === 'profile-start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // 1 ms: fine enough for a 10 s window, cheap enough not to be the tail it measures.
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');
    return { started: true };
  }
  if (cmd === 'profile-stop') {
    if (!session) return { error: 'no profile running' };
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    session = null;
    fs.writeFileSync(arg, JSON.stringify(profile));
    return { written: arg };
  }
  return { error: `unknown command ${cmd}` };
}

try {
  const channel = new net.Socket({ fd: 3, readable: true, writable: true });
  channel.unref();
  let buffered = '';
  channel.on('data', (chunk) => {
    buffered += chunk.toString();
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      handle(line).then(
        (r) => channel.write(`${JSON.stringify(r)}\n`),
        (e) => channel.write(`${JSON.stringify({ error: String(e) })}\n`),
      );
    }
  });
  channel.on('error', () => {});
} catch {
  // Started without the benchmark's pipe on fd 3: nothing to answer.
}
