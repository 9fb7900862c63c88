import { simulateBothDirections } from '/work/wt/issue13c/src/search/sim/run.ts';
import { MEASURE_DEFAULTS } from '/work/wt/issue13c/src/probe/measure.ts';
import { DEFAULT_SILENT_FLOOR_MS } from '/work/wt/issue13c/src/probe/outcome.ts';
const T = 20;
function med(v: number[]) { const s = [...v].sort((a,b)=>a-b); const m = s.length>>1; return s.length%2? s[m]! : (s[m-1]!+s[m]!)/2; }
async function row(name: string, min: number, stagger: number, tick: number|undefined, connect: number, extra: Record<string, unknown> = {}) {
  const w: number[] = [];
  for (let seed = 1; seed <= 15; seed++) {
    const r = await simulateBothDirections({ timeoutSeconds: T, mode: 'silent', tickSeconds: tick, connectLatencyMs: connect, rttMs: 1, silentDeadlineMs: DEFAULT_SILENT_FLOOR_MS, inboundMethod: 'signal', controlRttMs: 1, seed, ...extra } as any,
      { minSeconds: min, maxSeconds: 3*T, precision: { absSeconds: MEASURE_DEFAULTS.precisionAbsSeconds, relative: MEASURE_DEFAULTS.precisionRelative }, maxSessions: 16, connectStaggerMs: stagger, maxConnectsPerMinute: MEASURE_DEFAULTS.maxConnectsPerMinute });
    w.push(r.wallSeconds);
  }
  console.log(name.padEnd(40), med(w).toFixed(1), Math.min(...w).toFixed(1), Math.max(...w).toFixed(1));
}
const args = process.argv.slice(2);
for (const connect of [50, 200]) {
  for (const tick of [undefined, 1]) for (const min of [2, 5]) for (const st of [100, 250])
    await row(`conn ${connect} tick ${tick} min ${min} stagger ${st}`, min, st, tick, connect);
}
