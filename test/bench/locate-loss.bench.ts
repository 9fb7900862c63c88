// How often locate puts every box at its right hop when probes are lost (virtual time, seeded):
// the figure behind the given timeout's confirmation in parallel with the silent deadline
// (src/search/locate-hop-search.ts, docs/locate.md "Cost"). Cases: the lab chain of 10 s (hop 1) and
// 20 s (hop 3), a chain of 30 s (hop 3) and 60 s (hop 6, reset), one silent box of 15 s at hop 2;
// cold and with the path timeout given; each probe lost with the given probability. Prints right /
// runs per loss and mode. Not gated (an exploration; CI gates the lossless benchmark).
//   npx tsx test/bench/locate-loss.bench.ts [--seeds N] [--loss 0.01,0.05]
import { givenPathTimeout, locateBoxes } from '../../src/search/locate.ts';
import { simulateLocate, type SimBox } from '../../src/search/sim/multibox.ts';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SEEDS = Number(arg('--seeds') ?? 1000);
const LOSSES = (arg('--loss') ?? '0.01,0.05').split(',').map(Number);
if (!Number.isInteger(SEEDS) || SEEDS < 1 || SEEDS > 100_000) throw new Error(`--seeds: a whole number 1–100000, not ${arg('--seeds')}`);
if (LOSSES.some((l) => !(l >= 0 && l < 1))) throw new Error(`--loss: probabilities in [0, 1), not ${arg('--loss')}`);
const PRECISION = { absSeconds: 1, relative: 0.02 };

const CASES: { targetHop: number; boxes: SimBox[]; maxSeconds: number }[] = [
  { targetHop: 4, boxes: [{ hop: 1, timeoutSeconds: 10, mode: 'silent' }, { hop: 3, timeoutSeconds: 20, mode: 'silent' }], maxSeconds: 40 },
  { targetHop: 8, boxes: [{ hop: 3, timeoutSeconds: 30, mode: 'silent' }, { hop: 6, timeoutSeconds: 60, mode: 'reset' }], maxSeconds: 120 },
  { targetHop: 6, boxes: [{ hop: 2, timeoutSeconds: 15, mode: 'silent' }], maxSeconds: 40 },
];

console.log(`locate with lost probes: every box at its right hop, ${CASES.length} cases × seeds 1–${SEEDS}`);
console.log('| loss | cold | path timeout given |');
console.log('|---|---|---|');
for (const loss of LOSSES) {
  const cells: string[] = [];
  for (const known of [false, true]) {
    let right = 0;
    let runs = 0;
    for (const c of CASES) {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const T = c.boxes[0].timeoutSeconds;
        const { result } = await simulateLocate(locateBoxes, { targetHop: c.targetHop, boxes: c.boxes, lossProbability: loss, seed }, { maxSeconds: c.maxSeconds, ...(known ? { pathTimeout: givenPathTimeout(T, PRECISION) } : {}) });
        runs++;
        if (result.boxes.map((b) => b.hop).join() === c.boxes.map((b) => b.hop).join()) right++;
      }
    }
    cells.push(`${right}/${runs} (${((100 * right) / runs).toFixed(1)} %)`);
  }
  console.log(`| ${(loss * 100).toFixed(0)} % | ${cells.join(' | ')} |`);
}
