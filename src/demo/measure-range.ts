// The search range for a demo path whose timeout T is known (`idleprobe demo`, `serve --demo`).
import { MEASURE_DEFAULTS } from '../probe/measure.ts';
import type { MeasureOptions } from '../probe/target.ts';

/**
 * Search range for a known demo timeout T: the range `measure` would be given for such a path
 * (the search does not know T), with measure's own ladder (min 5 s, 250 ms connect stagger) so the
 * demo shows what `measure` does; only a small T lowers the first rung (to T/4), and the top is
 * 3 T so the demo ends in a minute or two. The ladder used to start at T/10 with a 100 ms stagger
 * (tuned for 8 + 8 sessions): with one shared pool that took 32.2 s at T = 20 s in the simulator
 * (exact expiry) vs 27.5 s now. At small T the wall time depends on where the rungs fall against T
 * (docs/search.md, Known limits), so this is measure's ladder, not one picked for T = 20 s.
 */
export function demoMeasureOptions(timeoutSeconds: number): MeasureOptions {
  const minSeconds = Math.max(1, Math.min(MEASURE_DEFAULTS.minSeconds, Math.floor(timeoutSeconds / 4)));
  return {
    ...MEASURE_DEFAULTS,
    minSeconds,
    maxSeconds: Math.max(minSeconds + 10, Math.ceil(timeoutSeconds * 3)),
  };
}
