// `measure -J`: the client→first-hop leg measured beside the path, so the user can tell which leg
// has the short timeout. What it reports, and when it may stop early.
//
// The leg's sessions and the path's share the client→jump hop, so T_path ≤ T_leg always. Once the
// path's timeout is bracketed, the leg has answered the question as soon as it survived longer
// than the path's upper bound (plus the precision width, against a lost packet): the short leg is
// then after the jump host. Without this the leg would go on to --max (7,440 s by default) to
// prove "no timeout", and the command would wait for it — two hours for an answer known in two T.
//
// Where every direction measured can ask the first jump host beside the path's own probes
// (FirstHopEvidence), the leg needs no sessions of its own: the path's failures tell which leg
// forgot the connection (PathProbeLeg below), and the path gets the whole session budget.
import { bracketWidthTarget, type Precision } from '../search/index.ts';
import type { Direction, DirectionResult, FirstHopEvidence, MeasurementResult, SearchProgress, Verdict } from '../search/types.ts';
import { formatSummary } from '../probe/summary.ts';

/** The leg stopped because it outlived the path's timeout in every direction that has one. */
export interface JumpLegOutlived {
  target: string;
  outlivedPath: true;
  /** Per direction the path timed out in: the longest idle age the leg survived (above the path's upper bound). */
  survivedSeconds: Partial<Record<Direction, number>>;
  /** Directions the path timed out in that the jump host cannot be probed in (e.g. inbound: no shell there). */
  unsupported?: Direction[];
}

/**
 * The leg told by the path's own probes (PathProbeLeg), per direction the path was measured in:
 *  - `outlived_path`: at a failure of the path at or above its bound the jump host answered, so the
 *    leg lived longer than the path's timeout: the short timeout is after the jump host;
 *  - `as_path`: the jump host fell silent with the path at its failures (or the path found no
 *    timeout, and the leg lived through every age the path did): the path's result is the leg's;
 *  - `not_told`: the evidence cannot tell (why says so).
 */
export interface JumpLegByPathProbes {
  target: string;
  byPathProbes: true;
  directions: LegReading[];
}

/**
 * `ownSessions`: what the path's probes could not tell, the leg's own search told after the path
 * had ended (withOwnSearch): `outlived_path` once it survived past the path's bound plus a
 * precision width (JumpLegWatch), or `measured`, its own result.
 */
export type LegReading =
  | { direction: Direction; reading: 'outlived_path'; survivedSeconds: number; ownSessions?: true }
  | { direction: Direction; reading: 'as_path'; verdict: Verdict; lowerSeconds: number | null; upperSeconds: number | null; estimateSeconds: number | null }
  | { direction: Direction; reading: 'measured'; verdict: Verdict; lowerSeconds: number | null; upperSeconds: number | null; estimateSeconds: number | null; ownSessions: true }
  | { direction: Direction; reading: 'not_told'; why: string };

export type JumpLegReport = MeasurementResult | JumpLegOutlived | JumpLegByPathProbes | { target: string; error: string };

export interface JumpReport {
  /** client → each hop → target, as measured. */
  path: string[];
  /** The client→first-hop leg measured alone: its result, that it outlived the path, or why it could not be measured. */
  jumpLeg: JumpLegReport;
}

/**
 * The leg's report once it has outlived the path, or null while it has not (or the path found no
 * timeout: then there is nothing to outlive, and the leg's own verdict is the answer).
 * `legLower`: per direction, the longest idle age the leg survived so far. `legUnsupported`: the
 * directions the leg's search ended `unsupported` in (a jump host without a shell has no inbound
 * probes): they are not waited for, as long as another direction outlived the path.
 */
export function legOutlivedPath(
  target: string,
  path: PathResults,
  legLower: Partial<Record<Direction, number | null>>,
  precision: Precision,
  legUnsupported: ReadonlySet<Direction> = new Set(),
): JumpLegOutlived | null {
  const timedOut = path.results.filter((r) => r.verdict === 'timeout' && r.upperSeconds !== null);
  const survivedSeconds: Partial<Record<Direction, number>> = {};
  const unsupported: Direction[] = [];
  for (const r of timedOut) {
    if (legUnsupported.has(r.direction)) {
      unsupported.push(r.direction);
      continue;
    }
    const lower = legLower[r.direction];
    if (lower === null || lower === undefined || lower <= r.upperSeconds! + bracketWidthTarget(precision, r.upperSeconds!)) return null;
    survivedSeconds[r.direction] = lower;
  }
  if (Object.keys(survivedSeconds).length === 0) return null;
  return { target, outlivedPath: true, survivedSeconds, ...(unsupported.length ? { unsupported } : {}) };
}

/** The path's results, as legOutlivedPath reads them. */
type PathResults = { results: readonly Pick<DirectionResult, 'direction' | 'verdict' | 'upperSeconds'>[] };

/**
 * The leg's search beside the path's: give it `signal` and `onProgress`, tell it `pathEnded`; once
 * the leg outlived the path (legOutlivedPath) `outlived` resolves and `signal` aborts the leg. Its
 * own abort, so that stopping the leg is not an interruption of the command; `parent` (the
 * command's) still stops it. Shared by `measure -J` and test/bench/jump-sim.bench.ts.
 */
export class JumpLegWatch {
  readonly signal: AbortSignal;
  readonly outlived: Promise<JumpLegOutlived>;
  private readonly stop = new AbortController();
  private readonly lower: Partial<Record<Direction, number | null>> = {};
  private readonly unsupported = new Set<Direction>();
  private path: PathResults | null = null;
  private report: JumpLegOutlived | null = null;
  private resolveOutlived: (r: JumpLegOutlived) => void = () => {};

  constructor(
    private readonly target: string,
    private readonly precision: Precision,
    parent?: AbortSignal,
  ) {
    this.signal = parent ? AbortSignal.any([parent, this.stop.signal]) : this.stop.signal;
    this.outlived = new Promise((resolve) => (this.resolveOutlived = resolve));
  }

  /** The leg's progress (its onProgress): the longest age survived per direction, and the directions that ended unsupported. */
  readonly onProgress = (p: SearchProgress): void => {
    this.lower[p.direction] = p.lowerSeconds;
    if (p.verdict === 'unsupported') this.unsupported.add(p.direction);
    this.check();
  };

  pathEnded(path: PathResults): void {
    this.path = path;
    this.check();
  }

  /** Whether the leg was stopped because it outlived the path. */
  hasOutlived(): boolean {
    return this.report !== null;
  }

  private check(): void {
    if (!this.path || this.signal.aborted) return;
    this.report = legOutlivedPath(this.target, this.path, this.lower, this.precision, this.unsupported);
    if (!this.report) return;
    this.resolveOutlived(this.report);
    this.stop.abort(new Error('the jump leg outlived the path'));
  }
}

/**
 * The client→jump leg told by the path's own probes: give `onEvidence` to the path's opener
 * (MeasureOptions.onFirstHopEvidence), `report` once the path's result is known. Per direction, at
 * the path's failures at or above its upper bound U (the failure that set U among them):
 *  - the jump host answered at one of them → the leg lived at an age ≥ U ≥ the path's timeout: the
 *    short timeout is after the jump host (the longest such age is reported as survived);
 *  - it answered at none → the leg died with the path: the path's bracket is the leg's.
 * Failures below U, which the search set aside (a lost probe: TCP retransmits it to the jump host
 * and the target alike, so the jump host's silence there is the same loss), are not read. When the
 * path found no timeout, every age the path survived the leg survived too: its result is the leg's.
 * Shared by `measure -J` and test/bench/jump-sim.bench.ts.
 */
export class PathProbeLeg {
  private readonly failures: FirstHopEvidence[] = [];
  private inboundUnwitnessed: string | null = null;

  /** Why inbound probes could not ask the jump host (the first reason heard). */
  readonly onInboundUnwitnessed = (why: string): void => {
    this.inboundUnwitnessed ??= why;
  };

  readonly onEvidence = (e: FirstHopEvidence): void => {
    // 'alive' carries nothing the path's bracket does not; 'error' (nothing sent) says nothing.
    if (e.pathOutcome === 'alive' || e.pathOutcome === 'error') return;
    this.failures.push(e);
  };

  /** What the evidence says of the leg in the direction of `result` (one of the path's). */
  judge(result: Pick<DirectionResult, 'direction' | 'verdict' | 'lowerSeconds' | 'upperSeconds' | 'estimateSeconds'>): LegReading {
    const { direction } = result;
    const asPath: LegReading = { direction, reading: 'as_path', verdict: result.verdict, lowerSeconds: result.lowerSeconds, upperSeconds: result.upperSeconds, estimateSeconds: result.estimateSeconds };
    if (result.verdict !== 'timeout' || result.upperSeconds === null) return asPath;
    const upper = result.upperSeconds;
    const atOrAbove = this.failures.filter((e) => e.direction === direction && e.ageSeconds >= upper - 1e-6);
    const answered = atOrAbove.filter((e) => e.firstHopAnswered).map((e) => e.ageSeconds);
    if (answered.length > 0) return { direction, reading: 'outlived_path', survivedSeconds: Math.max(...answered) };
    if (atOrAbove.length > 0) return asPath;
    if (direction === 'inbound' && this.inboundUnwitnessed) return { direction, reading: 'not_told', why: this.inboundUnwitnessed };
    return { direction, reading: 'not_told', why: `no ${direction} probe failed at or above the path's bound (${upper.toFixed(1)} s) with the jump host asked beside it` };
  }

  report(target: string, path: { results: readonly Pick<DirectionResult, 'direction' | 'verdict' | 'lowerSeconds' | 'upperSeconds' | 'estimateSeconds'>[] }): JumpLegByPathProbes {
    return { target, byPathProbes: true, directions: path.results.map((r) => this.judge(r)) };
  }
}

/** The directions the path's probes could not tell (the leg's own search then measures them). */
export function untoldDirections(told: JumpLegByPathProbes): Direction[] {
  return told.directions.filter((d) => d.reading === 'not_told').map((d) => d.direction);
}

/** `told` with its `not_told` directions read from the leg's own search (`own`: its report). */
export function withOwnSearch(told: JumpLegByPathProbes, own: JumpLegReport): JumpLegByPathProbes {
  return { ...told, directions: told.directions.map((d) => (d.reading === 'not_told' ? fromOwnSearch(d, own) : d)) };
}

function fromOwnSearch(d: Extract<LegReading, { reading: 'not_told' }>, own: JumpLegReport): LegReading {
  const { direction } = d;
  if ('error' in own) return { ...d, why: `${d.why}; the leg's own search failed: ${own.error}` };
  if ('outlivedPath' in own) {
    const survived = own.survivedSeconds[direction];
    if (survived !== undefined) return { direction, reading: 'outlived_path', survivedSeconds: survived, ownSessions: true };
    if (own.unsupported?.includes(direction)) return { ...d, why: `${d.why}; the leg's own search there ended unsupported (e.g. no shell on the jump host)` };
    return d;
  }
  if ('byPathProbes' in own) return d;
  const r = own.results.find((x) => x.direction === direction);
  if (!r) return d;
  return { direction, reading: 'measured', verdict: r.verdict, lowerSeconds: r.lowerSeconds, upperSeconds: r.upperSeconds, estimateSeconds: r.estimateSeconds, ownSessions: true };
}

export function formatJumpReport(j: JumpReport): string {
  const lines = [`Measured path: ${j.path.join(' → ')} (a middlebox on any leg counts: the shortest timeout wins)`];
  const leg = j.jumpLeg;
  if ('error' in leg) lines.push(`Jump leg alone (client → ${leg.target}): not measurable: ${leg.error}`);
  else if ('outlivedPath' in leg) {
    const survived = Object.entries(leg.survivedSeconds)
      .map(([direction, s]) => `${s.toFixed(1)} s ${direction}`)
      .join(', ');
    lines.push(
      `Jump leg alone (client → ${leg.target}): survived ${survived} idle, longer than the path's timeout,`,
      `  so the short timeout is after the jump host (the leg was not searched further).`,
    );
    if (leg.unsupported?.length) lines.push(`  Not measurable on the jump host: ${leg.unsupported.join(', ')} (its search there ended unsupported, e.g. no shell).`);
  } else if ('byPathProbes' in leg) {
    lines.push(`Jump leg (client → ${leg.target}), told by the path's own probes (the jump host was asked beside each):`);
    for (const d of leg.directions) lines.push(`  ${d.direction}: ${legReadingText(d)}`);
  } else lines.push(`Jump leg alone (client → ${leg.target}), so you can tell which leg is the short one:`, ...formatSummary(leg).trimEnd().split('\n').map((l) => `  ${l}`));
  return lines.join('\n') + '\n';
}

function legReadingText(d: LegReading): string {
  if (d.reading === 'outlived_path' && d.ownSessions) return `the path's probes could not tell; the leg's own sessions survived ${d.survivedSeconds.toFixed(1)} s idle, longer than the path's timeout: the short timeout is after the jump host`;
  if (d.reading === 'outlived_path') return `the jump host answered at ${d.survivedSeconds.toFixed(1)} s idle where the path did not: the short timeout is after the jump host`;
  if (d.reading === 'not_told') return `not told: ${d.why}`;
  if (d.reading === 'measured') return `the path's probes could not tell; the leg's own sessions measured it: ${d.verdict === 'timeout' ? formatBracket(d.lowerSeconds, d.upperSeconds) : d.verdict.replaceAll('_', ' ')}`;
  if (d.verdict === 'timeout') return `the jump host fell silent with the path: the short timeout is on this leg (${formatBracket(d.lowerSeconds, d.upperSeconds)}, as the path's)`;
  if (d.verdict === 'unsupported' || d.verdict === 'inconclusive') return `not measured on the path (${d.verdict}), so nothing to tell of the leg`;
  return `it lived through every age the path did (the path's verdict: ${d.verdict.replaceAll('_', ' ')})`;
}

function formatBracket(lower: number | null, upper: number | null): string {
  if (upper === null) return 'no upper bound';
  return lower === null ? `at most ${upper.toFixed(1)} s` : `between ${lower.toFixed(1)} and ${upper.toFixed(1)} s`;
}
