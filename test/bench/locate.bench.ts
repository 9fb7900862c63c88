// Benchmark of the locate planner (issue 14). Simulation only, deterministic (seeded draws on the
// multi-box simulator, virtual time).   npx tsx test/bench/locate.bench.ts [--draws N]
// Per draw: a path of 4–15 hops, the box enforcing T (log-uniform 10–3,600 s) at a random hop,
// 0–2 more boxes (nearer with a longer timeout — hidden — or farther with a longer one).
// Prints median / p90 of cost ÷ T to find the enforcing box (T known; cold), of cost ÷ t per
// further box, the most concurrent sessions, and the fraction of draws with every visible box
// at the right hop; compares with the goals of the issue and exits 1 if one is missed.
import { givenPathTimeout, locateBoxes } from '../../src/search/locate.ts';
import { logUniform, mulberry32, uniform } from '../../src/search/sim/prng.ts';
import { simulateLocate, type MultiBoxModel, type SimBox } from '../../src/search/sim/multibox.ts';

const args = process.argv.slice(2);
const DRAWS = Number(args[args.indexOf('--draws') + 1] ?? 200) || 200;
const SEED = 20261201;
const PRECISION = { absSeconds: 1, relative: 0.02 };
const GOALS = { warm: 1.5, cold: 3, sessions: 30 + 16 };

function drawPath(rng: () => number, seed: number): { model: MultiBoxModel; visible: SimBox[]; T: number } {
  const targetHop = 4 + Math.floor(rng() * 12);
  const T = logUniform(rng, 10, 3600);
  const hop = 1 + Math.floor(rng() * targetHop);
  const boxes: SimBox[] = [{ hop, timeoutSeconds: T, mode: rng() < 0.5 ? 'silent' : 'reset' }];
  const extra = Math.floor(rng() * 3);
  for (let i = 0; i < extra; i++) {
    const h = 1 + Math.floor(rng() * targetHop);
    if (boxes.some((b) => b.hop === h)) continue;
    boxes.push({ hop: h, timeoutSeconds: T * uniform(rng, 1.3, 4), mode: rng() < 0.5 ? 'silent' : 'reset' });
  }
  // Visible: a box whose timeout is shorter than every box beyond it.
  const visible = boxes.filter((b) => boxes.every((o) => o.hop <= b.hop || o.timeoutSeconds > b.timeoutSeconds)).sort((a, b) => a.hop - b.hop);
  return { model: { targetHop, boxes, seed }, visible, T };
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
};
const fmt = (xs: number[]) => `${q(xs, 0.5).toFixed(2)} / ${q(xs, 0.9).toFixed(2)}`;

const rng = mulberry32(SEED);
const warm: number[] = [];
const cold: number[] = [];
const further: number[] = [];
let maxOpen = 0;
let right = 0;
let runs = 0;
let sessionsPerBox: number[] = [];
for (let i = 0; i < DRAWS; i++) {
  const { model, visible, T } = drawPath(rng, SEED + i);
  const maxSeconds = Math.max(...model.boxes.map((b) => b.timeoutSeconds)) * 1.5;
  for (const mode of ['warm', 'cold'] as const) {
    const { result, stats } = await simulateLocate(locateBoxes, model, {
      maxSeconds,
      minSeconds: 5,
      ...(mode === 'warm' ? { pathTimeout: givenPathTimeout(T, PRECISION, null) } : {}),
    });
    runs++;
    maxOpen = Math.max(maxOpen, stats.maxOpen);
    const ok = result.boxes.map((b) => b.hop).join() === visible.map((b) => b.hop).join();
    if (ok) right++;
    const first = result.boxes[0];
    if (first) (mode === 'warm' ? warm : cold).push(first.foundAfterMs / 1000 / T);
    else (mode === 'warm' ? warm : cold).push(Infinity);
    if (mode === 'cold' && ok) {
      for (let b = 1; b < result.boxes.length; b++) {
        further.push((result.boxes[b]!.foundAfterMs - result.boxes[b - 1]!.foundAfterMs) / 1000 / visible[b]!.timeoutSeconds);
      }
      sessionsPerBox.push(stats.connects / Math.max(1, result.boxes.length));
    }
  }
}

const rows = [
  ['enforcing box, T known (--timeout / history)', fmt(warm), `≤ ${GOALS.warm}`, q(warm, 0.5) <= GOALS.warm],
  ['enforcing box, cold (T measured first)', fmt(cold), `≤ ${GOALS.cold}`, q(cold, 0.5) <= GOALS.cold],
  ['each further box (cost ÷ its timeout)', fmt(further), '—', true],
] as const;
console.log(`locate benchmark: ${DRAWS} draws (seed ${SEED}), paths of 4–15 hops, T log-uniform 10–3600 s, 1–3 boxes; median / p90 of cost ÷ T`);
console.log('| what | cost ÷ T (median / p90) | goal | met |');
console.log('|---|---|---|---|');
for (const [what, v, goal, met] of rows) console.log(`| ${what} | ${v} | ${goal} | ${met ? 'yes' : 'NO'} |`);
console.log(`most concurrent sessions: ${maxOpen} (goal ≤ ${GOALS.sessions}: ${maxOpen <= GOALS.sessions ? 'yes' : 'NO'}); connections per box found (cold, median): ${q(sessionsPerBox, 0.5).toFixed(0)}`);
console.log(`every visible box at the right hop: ${right}/${runs} runs (${((100 * right) / runs).toFixed(1)} %)`);
const failed = rows.some((r) => !r[3]) || maxOpen > GOALS.sessions || right / runs < 0.95;
process.exit(failed ? 1 : 0);
