// The live progress line of `measure`/`demo`: current bracket per direction, sessions open,
// elapsed and ETA, redrawn in place on a TTY. On anything else it prints nothing (logs and CI
// stay clean; warnings still go to stderr).
import type { Direction, SearchProgress } from '../search/types.ts';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function bound(v: number | null): string {
  return v === null ? '…' : `${Math.round(v * 10) / 10}`;
}

/**
 * The ETA over all directions: the one that will take longest decides. Each report's ETA is
 * counted down by the time since it was made (`elapsedMs` − the report's `elapsedMs`, both on the
 * line's clock). Before a failure a search only knows an upper bound: shown as "ETA ≤ 2:04:00".
 */
export function renderEta(byDirection: ReadonlyMap<Direction, SearchProgress>, elapsedMs: number): string {
  if (byDirection.size === 0) return 'ETA ?';
  let longest: { ms: number; atMost: boolean } | null = null;
  for (const p of byDirection.values()) {
    if (p.etaMs === null) return 'ETA ?';
    const ms = Math.max(0, p.etaMs - Math.max(0, elapsedMs - p.elapsedMs));
    if (longest === null || ms > longest.ms) longest = { ms, atMost: p.etaKind === 'at_most' };
  }
  return `ETA ${longest!.atMost ? '≤ ' : ''}${formatDuration(longest!.ms)}`;
}

/**
 * One line of text for the current state; pure, so it can be tested. `boundAtMs` (on the line's
 * clock): when the search stops at the latest, whatever it found — its own time bound
 * (searchTimeBudgetMs), after which it reports a partial bracket and why it stopped.
 */
export function renderProgress(byDirection: ReadonlyMap<Direction, SearchProgress>, sessionsOpen: number, elapsedMs: number, boundAtMs: number | null = null): string {
  const parts: string[] = [];
  for (const [direction, p] of byDirection) parts.push(`${direction} (${bound(p.lowerSeconds)}, ${bound(p.upperSeconds)}]`);
  parts.push(`${sessionsOpen} session${sessionsOpen === 1 ? '' : 's'} open`);
  parts.push(`${formatDuration(elapsedMs)} elapsed`);
  parts.push(renderEta(byDirection, elapsedMs));
  if (boundAtMs !== null) parts.push(`stops by ${formatDuration(boundAtMs)} at the latest`);
  return parts.join(' · ');
}

export interface ProgressLine {
  update(p: SearchProgress): void;
  sessions(open: number): void;
  /** Print a warning without garbling the line. */
  warn(message: string): void;
  done(): void;
}

export function progressLine(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressLine {
  const startedAt = now();
  const state = new Map<Direction, SearchProgress>();
  /** Per direction: its time bound on this line's clock (the search started after the control session). */
  const boundAt = new Map<Direction, number>();
  let open = 0;
  const live = stream.isTTY === true;
  let shown = false;
  const draw = () => {
    if (!live) return;
    // A pty without a size (script, some CI runners) reports 0 columns: fall back to 100.
    const width = Math.max(20, (stream.columns || 100) - 1);
    const latest = boundAt.size > 0 ? Math.max(...boundAt.values()) : null;
    stream.write(`\r\x1b[K${renderProgress(state, open, now() - startedAt, latest).slice(0, width)}`);
    shown = true;
  };
  // Elapsed/ETA tick even when the search is just waiting out an idle period.
  const timer = live ? setInterval(draw, 1000) : null;
  timer?.unref();
  const clear = () => {
    if (shown) stream.write('\r\x1b[K');
    shown = false;
  };
  return {
    update(p) {
      // Sessions open come from sessions() (the opener's count, control included), not per search.
      // The report's time is kept on this line's clock: a search starts after the control session
      // connected, so its own elapsedMs runs behind ours and would count its ETA down too early.
      const lineElapsed = now() - startedAt;
      // A direction that ended no longer bounds when the run stops.
      if (p.verdict !== undefined) boundAt.delete(p.direction);
      else if (p.boundMs !== undefined) boundAt.set(p.direction, lineElapsed + (p.boundMs - p.elapsedMs));
      state.set(p.direction, { ...p, elapsedMs: lineElapsed });
      draw();
    },
    sessions(n) {
      open = n;
      draw();
    },
    warn(message) {
      clear();
      stream.write(`idleprobe: warning: ${message}\n`);
      draw();
    },
    done() {
      if (timer) clearInterval(timer);
      clear();
    },
  };
}
