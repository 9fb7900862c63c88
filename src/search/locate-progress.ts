// The live progress of a locate run (phase, boxes so far, the bracket or hop range being tested,
// the current step's ETA), reported once a second for the CLI's live line.
import { frontierMarginSeconds } from './locate-read.ts';
import type { RunState } from './locate-state.ts';
import type { SessionTable } from './locate-sessions.ts';
import type { LocateProgress } from './locate-types.ts';

export function reportProgress(state: RunState, sessions: SessionTable): void {
  const cb = state.opts.onProgress;
  if (!cb) return;
  const level = [...state.levels].reverse().find((l) => !l.done) ?? state.levels.at(-1)!;
  const now = state.clock.now();
  const a = level.search.assessment();
  const frontierOn = level.boundary === null && level.frontier.length > 0 && level.search.upperHint(now, state.suspectAfterMs()) !== null;
  const phase: LocateProgress['phase'] = frontierOn ? 'frontier' : level.index === 0 ? 'path_timeout' : 'next_box';
  const hops: [number, number] = frontierOn ? [level.frontier[0].hop, level.frontier.at(-1)!.hop] : [level.hop, level.hop];
  let etaMs: number | null = null;
  if (frontierOn) {
    const upper = level.search.upperHint(now, state.suspectAfterMs())!;
    const fireAt = upper + frontierMarginSeconds(upper, state.opts.precision);
    const waits = sessions.idleOf(level, 'frontier', now).map((s) => Math.max(0, fireAt - s.ageSeconds) * 1000);
    etaMs = (waits.length ? Math.max(...waits) : 0) + state.suspectAfterMs();
  }
  cb({
    phase,
    hops,
    boxes: state.boxes.map((b) => ({ hop: b.hop, estimateSeconds: b.estimateSeconds })),
    lowerSeconds: frontierOn ? null : a.lower,
    upperSeconds: frontierOn ? null : a.upper,
    sessionsOpen: sessions.size,
    elapsedMs: state.elapsedMs(),
    etaMs,
  });
}

/** Progress once a second while the run lasts (bounded: the run itself is bounded by the ceiling). Abort the result to stop. */
export function tickProgress(state: RunState, sessions: SessionTable): AbortController {
  const stop = new AbortController();
  if (!state.opts.onProgress) return stop;
  void (async () => {
    const ticks = Math.ceil(state.opts.maxSeconds * 8) + 3600;
    for (let i = 0; i < ticks && !stop.signal.aborted; i++) {
      reportProgress(state, sessions);
      try {
        await state.clock.sleep(1000, stop.signal);
      } catch {
        return;
      }
    }
  })();
  return stop;
}
