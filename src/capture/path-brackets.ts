// The passive idle-timeout bracket per path (client host → server:port) and over everything,
// folded one connection at a time. Pure.
import { hostOf } from './format.ts';
import type { FlowReport, IdleTimeoutBracket, PathReport } from './report.ts';

interface Bounds {
  lower: number | null;
  upper: number | null;
  flows: number;
  closedIdle: number;
}

export function pathKey(report: Pick<FlowReport, 'client' | 'server'>): string {
  return `${hostOf(report.client)} → ${report.server}`;
}

export class PathBrackets {
  private readonly byPath = new Map<string, Bounds>();
  private readonly all: Bounds = { lower: null, upper: null, flows: 0, closedIdle: 0 };
  /**
   * Longest idle gap survived so far per path by connections not folded in yet (the live path's
   * verdicts use it: a death is judged with what every connection on its path showed up to then).
   */
  private readonly survivedSoFar = new Map<string, number>();
  /** Connections on paths beyond maxPaths: counted in the overall bracket only. */
  omittedFlows = 0;

  constructor(private readonly maxPaths: number) {}

  add(report: Omit<FlowReport, 'verdict'>): void {
    const key = pathKey(report);
    let entry = this.byPath.get(key);
    if (!entry && this.byPath.size < this.maxPaths) this.byPath.set(key, (entry = { lower: null, upper: null, flows: 0, closedIdle: 0 }));
    if (!entry) this.omittedFlows++;
    for (const b of entry ? [entry, this.all] : [this.all]) {
      b.flows++;
      if (report.end === 'closed_idle') b.closedIdle++;
      if (report.maxIdleSurvivedSeconds !== null) b.lower = Math.max(b.lower ?? 0, report.maxIdleSurvivedSeconds);
      if (report.diedAfterIdleSeconds !== null) b.upper = Math.min(b.upper ?? Infinity, report.diedAfterIdleSeconds);
    }
  }

  /** A connection still held survived `seconds` idle on `key` (bounded like the paths). */
  noteSurvived(key: string, seconds: number): void {
    const had = this.survivedSoFar.get(key);
    if (had === undefined && this.survivedSoFar.size >= this.maxPaths) return;
    if (had === undefined || seconds > had) this.survivedSoFar.set(key, seconds);
  }

  copy(): PathBrackets {
    const c = new PathBrackets(this.maxPaths);
    for (const [k, b] of this.byPath) c.byPath.set(k, { ...b });
    Object.assign(c.all, this.all);
    c.omittedFlows = this.omittedFlows;
    return c;
  }

  /** The path's lower bound from the connections folded in. */
  lowerOf(report: Pick<FlowReport, 'client' | 'server'>): number | null {
    return this.byPath.get(pathKey(report))?.lower ?? null;
  }

  /** The path's lower bound from everything seen so far, folded in or still held. */
  lowerSoFar(report: Pick<FlowReport, 'client' | 'server'>): number | null {
    const key = pathKey(report);
    const folded = this.byPath.get(key)?.lower ?? null;
    const held = this.survivedSoFar.get(key) ?? null;
    return held === null ? folded : folded === null ? held : Math.max(folded, held);
  }

  paths(): PathReport[] {
    return [...this.byPath].map(([path, b]) => ({ path, ...bracket(b) }));
  }

  overall(): IdleTimeoutBracket {
    return bracket(this.all);
  }
}

function bracket(b: Bounds): IdleTimeoutBracket {
  return { lowerSeconds: b.lower, upperSeconds: b.upper, consistent: b.lower === null || b.upper === null || b.lower < b.upper, flows: b.flows, closedIdle: b.closedIdle };
}
