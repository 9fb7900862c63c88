// locate on the real lab chain against the simulator (issue 22), every case of
// test/lab/locate-vs-sim.ts: the two chains of `npm run bench:locate`, each cold and with its
// timeout given, and one silent box (10 s, 20 s) with its timeout given. CI runs three of them
// (test/lab/locate-vs-sim.lab.test.ts); this runs all six,
// one after the other (timing comparison), and prints per case the real far box's
// `foundAfterSeconds` ÷ its timeout against the simulator's range, and whether it lies within 15 %.
// Needs root, like test/lab; about 6 min on a busy 2-core machine:
//   npm run bench:locate-lab [-- --case cold] [-- --silent-deadline-floor MS]
// (--case: only the cases whose name contains it; --silent-deadline-floor: locate's flag, given to
// the real run and the simulator alike)
import { requireLab } from '../lab/lab.ts';
import { LOCATE_VS_SIM_CASES, runLocateVsSim, withinPrediction } from '../lab/locate-vs-sim.ts';
import { silentDeadlineFloorArg } from './silent-deadline-arg.ts';

const args = process.argv.slice(2);
const only = args.includes('--case') ? args[args.indexOf('--case') + 1] ?? '' : '';
const silentDeadlineFloorMs = silentDeadlineFloorArg(args);

const env = requireLab();
if (!env.available) {
  console.error(`locate-lab bench: lab not available: ${env.reason}`);
  process.exit(1);
}

let bad = 0;
for (const c of LOCATE_VS_SIM_CASES.filter((x) => x.name.includes(only))) {
  const started = Date.now();
  const r = await runLocateVsSim(c, silentDeadlineFloorMs);
  const hopsRight = r.failure === null && JSON.stringify(r.realHops) === JSON.stringify(c.boxes.map((b) => b.hop));
  const ok = hopsRight && withinPrediction(r);
  if (!ok) bad++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${r.line}${hopsRight ? '' : ` (hops ${JSON.stringify(r.realHops)})`}; case ${((Date.now() - started) / 1000).toFixed(0)} s${c.ci ? ' (also in CI)' : ''}`);
}
process.exit(bad === 0 ? 0 : 1);
