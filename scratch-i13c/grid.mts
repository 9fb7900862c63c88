import { simulateBothDirections } from '../src/search/sim/run.ts';
import { MEASURE_DEFAULTS } from '../src/probe/measure.ts';
import { DEFAULT_SILENT_FLOOR_MS } from '../src/probe/outcome.ts';
function med(v: number[]) { const s = [...v].sort((a,b)=>a-b); const m = s.length>>1; return s.length%2? s[m]! : (s[m-1]!+s[m]!)/2; }
async function wall(T: number, min: number, max: number, stagger: number, tick?: number, connect = 100) {
  const w: number[] = [];
  for (let seed = 1; seed <= (tick ? 9 : 1); seed++) {
    const r = await simulateBothDirections({ timeoutSeconds: T, mode: 'silent', tickSeconds: tick, connectLatencyMs: connect, rttMs: 1, silentDeadlineMs: DEFAULT_SILENT_FLOOR_MS, inboundMethod: 'signal', controlRttMs: 1, seed } as any,
      { minSeconds: min, maxSeconds: max, precision: { absSeconds: MEASURE_DEFAULTS.precisionAbsSeconds, relative: MEASURE_DEFAULTS.precisionRelative }, maxSessions: 16, connectStaggerMs: stagger, maxConnectsPerMinute: MEASURE_DEFAULTS.maxConnectsPerMinute });
    w.push(r.wallSeconds);
  }
  return med(w);
}
const mode = process.argv[2] ?? 'grid';
if (mode === 'grid') {
  const T = 20;
  for (const min of [2, 3, 4, 5, 6]) {
    const cells: string[] = [];
    for (const st of [100, 150, 200, 250, 300]) for (const connect of [50, 300]) cells.push(`${st}/${connect}:${(await wall(T, min, 60, st, undefined, connect)).toFixed(1)}`);
    console.log(`min ${min}`, cells.join(' '));
  }
} else {
  for (const T of [3, 5, 8, 10, 15, 20, 25, 30, 40, 60]) {
    const cur = Math.max(1, Math.min(5, Math.floor(T / 10)));
    const curMax = Math.max(cur + 10, Math.ceil(T * 3));
    const nmin = Math.max(1, Math.min(MEASURE_DEFAULTS.minSeconds, Math.floor(T / 4)));
    const nmax = Math.max(nmin + 10, Math.ceil(T * 3));
    console.log(`T ${T}: current ${(await wall(T, cur, curMax, 100)).toFixed(1)} (${((await wall(T, cur, curMax, 100))/T).toFixed(2)}xT) | min ${nmin} st 250 ${(await wall(T, nmin, nmax, 250)).toFixed(1)} (${((await wall(T, nmin, nmax, 250))/T).toFixed(2)}xT)`);
  }
}
