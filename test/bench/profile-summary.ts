// Summarises V8 CPU profiles (.cpuprofile, from `node --cpu-prof` or bench:attack's BENCH_PROFILE):
// where the main thread's time went — self time by package / module (idleprobe's files, each
// node_modules package, Node's internals, GC, idle) and the top functions by self time.
// Self time is counted in samples, each at most 1.5 × the median sampling interval: on a loaded
// machine a thread waiting for a CPU is sampled late, and the whole gap would otherwise be charged to
// whatever ran when it got the CPU back (the wall time lost that way is printed apart).
// Usage: node --import tsx test/bench/profile-summary.ts FILE.cpuprofile… [--top N]
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const TOP = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const files = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));

/** Where a frame's code lives: idleprobe's file, an npm package, a Node module, or V8's own bucket. */
function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  if (url.startsWith('node:')) return url;
  const ours = /\/(src|dist)\/(.+?)\.(ts|js|mjs)$/.exec(url);
  if (ours) return `idleprobe:${ours[2]}`;
  return path.basename(url);
}

for (const file of files) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the gap before sample i: attribute it (capped) to the sample's node.
  const sorted = [...p.timeDeltas].sort((a, b) => a - b);
  const cap = 1.5 * (sorted[Math.floor(sorted.length / 2)] ?? 1000);
  let lateUs = 0;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    lateUs += Math.max(0, d - cap);
    self.set(id, (self.get(id) ?? 0) + Math.min(d, cap));
  });
  const totalUs = p.endTime - p.startTime - lateUs;
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${a}${url ? `:${lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  const busy = totalUs - (byArea.get('(idle)') ?? 0);
  console.log(`${path.basename(file)}: ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s profiled, ${(lateUs / 1e6).toFixed(1)} s of it between late samples (thread waiting for a CPU); main thread busy ${ms(busy)} (${pct(busy).trim()} of the rest)`);
  console.log('  by area (self time):');
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`    ${pct(us)} ${ms(us)}  ${a}`);
  console.log('  top functions (self time):');
  for (const [f, us] of [...byFn].filter(([k]) => !k.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`    ${pct(us)} ${ms(us)}  ${f}`);
}
