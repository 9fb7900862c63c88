// Benchmark of the locate planner (issues 14 and 22). Simulation only, deterministic (seeded draws
// on the multi-box simulator, virtual time).   npx tsx test/bench/locate.bench.ts [--draws N]
//
// Cost = the time until every box the path lets be seen has its hop and its bracket, ÷ the far
// box's timeout (the longest of them: the floor is that timeout itself), cold (the path timeout
// measured first) and known (given as --timeout, verified). Proving that nothing beyond the last
// box forgets within --max takes --max itself; it is not part of the cost.
//
// Cases: the two lab chains of issue 22 (boxes of 10 s at hop 1 and 20 s at hop 3 of 4; 8 / 16 /
// 28 s at hops 1 / 2 / 4 of 4), and seeded draws: a path of 4–15 hops, the enforcing box's T
// log-uniform in 10–3,600 s at a random hop, 0–2 more boxes nearer (hidden) or farther with
// 1.3–4 × T. Prints median and p90 of cost ÷ far T per case and mode, the most concurrent
// sessions and the fraction of runs with every visible box at the right hop; exits 1 if a goal is
// missed: median ≤ 2.5 cold, ≤ 1.5 known (issue 22), ≤ 30 sessions at once, ≥ 95 % right.
import { givenPathTimeout, locateBoxes } from '../../src/search/locate.ts';
import { logUniform, mulberry32, uniform } from '../../src/search/sim/prng.ts';
import { simulateLocate, type MultiBoxModel, type SimBox } from '../../src/search/sim/multibox.ts';

const args = process.argv.slice(2);
const DRAWS = Number(args[args.indexOf('--draws') + 1] ?? 200) || 200;
const SEED = 20261201;
const PRECISION = { absSeconds: 1, relative: 0.02 };
const GOALS = { cold: 2.5, known: 1.5, sessions: 30, right: 0.95 };
/** Seeds per fixed case (the simulator's loss and jitter draw from it). */
const CASE_SEEDS = 9;

interface Case {
  name: string;
  model: MultiBoxModel;
  maxSeconds: number;
}

/** Visible: a box whose timeout is shorter than every box beyond it. */
function visibleOf(boxes: SimBox[]): SimBox[] {
  return boxes.filter((b) => boxes.every((o) => o.hop <= b.hop || o.timeoutSeconds > b.timeoutSeconds)).sort((a, b) => a.hop - b.hop);
}

function drawPath(rng: () => number, seed: number): Case {
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
  const far = Math.max(...visibleOf(boxes).map((b) => b.timeoutSeconds));
  return { name: "draw", model: { targetHop, boxes, seed }, maxSeconds: far * 1.5 };
}

const FIXED: Case[] = [
  {
    name: 'lab: 10 s hop 1, 20 s hop 3 (of 4)',
    model: { targetHop: 4, boxes: [{ hop: 1, timeoutSeconds: 10, mode: 'silent' }, { hop: 3, timeoutSeconds: 20, mode: 'silent' }] },
    maxSeconds: 40,
  },
  {
    name: 'lab: 8 / 16 / 28 s hops 1 / 2 / 4 (of 4)',
    model: { targetHop: 4, boxes: [{ hop: 1, timeoutSeconds: 8, mode: 'silent' }, { hop: 2, timeoutSeconds: 16, mode: 'silent' }, { hop: 4, timeoutSeconds: 28, mode: 'silent' }] },
    maxSeconds: 60,
  },
];

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
};
const fmt = (xs: number[]) => `${q(xs, 0.5).toFixed(2)} / ${q(xs, 0.9).toFixed(2)}`;

type Mode = 'cold' | 'known';
let maxOpen = 0;
let right = 0;
let runs = 0;
const wrong: string[] = [];

async function runCase(c: Case, mode: Mode, seed: number): Promise<number> {
  const model = { ...c.model, seed };
  const visible = visibleOf(model.boxes);
  const T = Math.min(...model.boxes.map((b) => b.timeoutSeconds));
  const far = Math.max(...visible.map((b) => b.timeoutSeconds));
  const { result, stats } = await simulateLocate(locateBoxes, model, {
    maxSeconds: c.maxSeconds,
    minSeconds: 5,
    ...(mode === 'known' ? { pathTimeout: givenPathTimeout(T, PRECISION, null) } : {}),
  });
  runs++;
  maxOpen = Math.max(maxOpen, stats.maxOpen);
  const ok = result.boxes.map((b) => b.hop).join() === visible.map((b) => b.hop).join();
  if (ok) right++;
  else wrong.push(`${mode} ${JSON.stringify(model)}: found ${result.boxes.map((b) => b.hop).join(',')} (${result.verdict}: ${result.reason ?? ''})`);
  if (!ok || result.boxes.length === 0) return Infinity;
  return Math.max(...result.boxes.map((b) => b.foundAfterMs)) / 1000 / far;
}

const rows: { what: string; mode: Mode; ratios: number[] }[] = [];
for (const c of FIXED) {
  for (const mode of ['cold', 'known'] as const) {
    const ratios: number[] = [];
    for (let s = 1; s <= CASE_SEEDS; s++) ratios.push(await runCase(c, mode, s));
    rows.push({ what: c.name, mode, ratios });
  }
}
const rng = mulberry32(SEED);
const draws: Case[] = Array.from({ length: DRAWS }, (_, i) => drawPath(rng, SEED + i));
for (const mode of ['cold', 'known'] as const) {
  const ratios: number[] = [];
  for (const c of draws) ratios.push(await runCase(c, mode, c.model.seed!));
  rows.push({ what: `${DRAWS} draws (seed ${SEED})`, mode, ratios });
}

console.log('locate benchmark: cost until every visible box is found ÷ the far box\'s timeout (median / p90)');
console.log('| case | cold | known |');
console.log('|---|---|---|');
for (const what of [...new Set(rows.map((r) => r.what))]) {
  const cell = (m: Mode) => fmt(rows.find((r) => r.what === what && r.mode === m)!.ratios);
  console.log(`| ${what} | ${cell('cold')} | ${cell('known')} |`);
}
const drawRow = (m: Mode) => rows.find((r) => r.what.endsWith(`(seed ${SEED})`) && r.mode === m)!.ratios;
const goals = [
  { what: `draws, cold: median ≤ ${GOALS.cold}`, met: q(drawRow('cold'), 0.5) <= GOALS.cold },
  { what: `draws, known: median ≤ ${GOALS.known}`, met: q(drawRow('known'), 0.5) <= GOALS.known },
  ...FIXED.flatMap((c) => [
    { what: `${c.name}, cold: median ≤ ${GOALS.cold}`, met: q(rows.find((r) => r.what === c.name && r.mode === 'cold')!.ratios, 0.5) <= GOALS.cold },
    { what: `${c.name}, known: median ≤ ${GOALS.known}`, met: q(rows.find((r) => r.what === c.name && r.mode === 'known')!.ratios, 0.5) <= GOALS.known },
  ]),
  { what: `most concurrent sessions ${maxOpen} ≤ ${GOALS.sessions}`, met: maxOpen <= GOALS.sessions },
  { what: `every visible box at the right hop ${right}/${runs} ≥ ${GOALS.right * 100} %`, met: right / runs >= GOALS.right },
];
for (const g of goals) console.log(`${g.met ? 'met   ' : 'MISSED'} ${g.what}`);
for (const w of wrong.slice(0, 10)) console.log(`wrong: ${w}`);
process.exit(goals.every((g) => g.met) ? 0 : 1);
