// Measuring through a jump host, `measure` runs the client→jump leg alone beside the path
// (src/cli/measure.ts) so the user can tell which leg is the short one. The leg's socket is the
// path's outer socket, so T_path ≤ T_leg always: once the path is bracketed, a leg session seen
// alive beyond the path's upper bound proves the client→jump leg is not the short one. Measuring
// that leg on to --max (2 h by default) would tell nothing more, so its measurement stops there.
import type { Direction, DirectionResult, SearchProgress } from '../search/types.ts';

/** What of the path's result decides: each direction's verdict and upper bound. */
export interface PathBrackets {
  results: readonly Pick<DirectionResult, 'direction' | 'verdict' | 'upperSeconds'>[];
}

/** Per direction: the leg was seen alive at this idle age, beyond the path's upper bound. */
export interface LegOutlivesPath {
  direction: Direction;
  aliveAtSeconds: number;
  pathUpperSeconds: number;
}

/** The leg's report when its measurement stopped because it outlived the path. */
export interface JumpLegOutlived {
  target: string;
  outlivesPath: LegOutlivesPath[];
  /** From the leg's start until it was stopped. */
  elapsedSeconds: number;
}

/**
 * The directions the path timed out in, and whether the leg outlived the path in every one of
 * them; null while it has not (or when the path has no bracket to outlive).
 */
export function legOutlivesPath(path: PathBrackets, legAliveAt: ReadonlyMap<Direction, number>): LegOutlivesPath[] | null {
  const bracketed = path.results.filter((r) => r.verdict === 'timeout' && r.upperSeconds !== null);
  if (bracketed.length === 0) return null;
  const outlived: LegOutlivesPath[] = [];
  for (const r of bracketed) {
    const alive = legAliveAt.get(r.direction);
    if (alive === undefined || alive <= r.upperSeconds!) return null;
    outlived.push({ direction: r.direction, aliveAtSeconds: alive, pathUpperSeconds: r.upperSeconds! });
  }
  return outlived;
}

/**
 * Follows the leg's progress (its lower bound per direction: the oldest age seen alive) and the
 * path's result, and calls `onOutlived` once, as soon as legOutlivesPath holds.
 */
export class JumpLegWatch {
  private readonly aliveAt = new Map<Direction, number>();
  private path: PathBrackets | null = null;
  private fired = false;

  constructor(private readonly onOutlived: (outlived: LegOutlivesPath[]) => void) {}

  legProgress(p: Pick<SearchProgress, 'direction' | 'lowerSeconds'>): void {
    if (p.lowerSeconds === null) return;
    this.aliveAt.set(p.direction, Math.max(p.lowerSeconds, this.aliveAt.get(p.direction) ?? 0));
    this.check();
  }

  pathResult(result: PathBrackets): void {
    this.path = result;
    this.check();
  }

  private check(): void {
    if (this.fired || !this.path) return;
    const outlived = legOutlivesPath(this.path, this.aliveAt);
    if (!outlived) return;
    this.fired = true;
    this.onOutlived(outlived);
  }
}
