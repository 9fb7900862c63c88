// `idleprobe measure [user@]host[:port]`: finds the idle timeout of the path to one SSH server.
// Thin: the connection flags (target-spec.ts, shared with locate/heartbeat/advise) give a
// TargetSpec, the search flags MeasureOptions; call measureTarget, print.
export { buildTargetSpec, parseTargetArg, type ParsedTarget } from './target-spec.ts';
import { Command } from 'commander';
import { interruptedError, UsageError } from './errors.ts';
import { progressLine } from './progress.ts';
import { formatDurationMs, parseDurationSeconds } from '../duration.ts';
import type { MeasureOptions, TargetSpec } from '../probe/target.ts';
import { DEFAULT_INBOUND_METHOD, DEFAULT_SLEEP_COMMAND } from '../probe/inbound.ts';
import { ConnectPacer, precisionOf, realClock, shareOf } from '../search/index.ts';
import type { MeasurementResult } from '../search/types.ts';
import { formatJumpReport, JumpLegWatch, PathProbeLeg, untoldDirections, withOwnSearch, type JumpLegReport, type JumpReport } from './jump-leg.ts';
import { parseSessions, parseSilentDeadlineFloor } from './setting-flags.ts';
import { addConnectionOptions, resolveConnection, targetSpecOf, type ConnectionFlags, type ProbeFlags } from './target-spec.ts';
import { CredentialError } from '../probe/credentials.ts';
import { MEASURE_DEFAULTS, measurableDirections, measureTarget } from '../probe/measure.ts';
import { formatSummary } from '../probe/summary.ts';
import { addReportOption, writeReport, type ReportFlags } from './report-option.ts';

/** A duration flag (the one grammar: 10, 10s, 500ms, 5m, 1h30m) as seconds; usage error naming the flag. */
export function parseSeconds(value: string, flag: string): number {
  return parseDurationSeconds(value, flag);
}

/** `--min`/`--max` (durations), as `measure`, `locate` and `advise` take them; --max above --min. */
export function parseAgeRange(min: string, max: string): { minSeconds: number; maxSeconds: number } {
  const minSeconds = parseSeconds(min, '--min');
  const maxSeconds = parseSeconds(max, '--max');
  if (maxSeconds <= minSeconds) throw new UsageError(`--max (${formatDurationMs(maxSeconds * 1000)}) must be greater than --min (${formatDurationMs(minSeconds * 1000)})`);
  return { minSeconds, maxSeconds };
}

/** `--sessions N`, checked against the setting's schema range (shared with `locate`). */
export { parseSessions } from './setting-flags.ts';

/** The search flags of `measure` (also taken by `locate`). */
export interface SearchFlags {
  min: string;
  max: string;
  sessions: string;
  silentDeadlineFloor: string;
  json?: boolean;
}

export interface MeasureFlags extends ConnectionFlags, ProbeFlags, SearchFlags, ReportFlags {}

/** Search flags and the connection's deadline → MeasureOptions (the settings, by their settings names). */
export function buildMeasureOptions(flags: SearchFlags, connectTimeoutMs: number = MEASURE_DEFAULTS.connectTimeoutMs): MeasureOptions {
  return { ...MEASURE_DEFAULTS, ...parseAgeRange(flags.min, flags.max), sessions: parseSessions(flags.sessions), silentDeadlineFloorMs: parseSilentDeadlineFloor(flags.silentDeadlineFloor), connectTimeoutMs };
}

/**
 * `--silent-deadline-floor`'s help. The default stays 3 s on purpose: the first packet after an
 * idle period can be slow on some paths (a cellular radio waking up, Wi-Fi power save), and a
 * late answer taken for silence is a wrong measurement (docs/search.md, "The silent deadline").
 */
const SILENT_DEADLINE_FLOOR_HELP =
  "wait at least this long for a probe's answer before calling it silent (the deadline is the larger of this and 4 × RTT + 1s); shorter finishes sooner at small timeouts, but an answer slower than it is taken for a timeout";

/** The age-range, session and silent-deadline flags, shared with `locate`. */
export function addSearchOptions(cmd: Command, help: { max: string; sessions: string } = { max: 'longest idle age to probe', sessions: 'concurrent probe sessions (shared by both directions)' }): Command {
  return cmd
    .option('--min <duration>', 'shortest idle age to probe (10 = seconds, or 10s, 5m, 1h30m)', String(MEASURE_DEFAULTS.minSeconds))
    .option('--max <duration>', help.max, String(MEASURE_DEFAULTS.maxSeconds))
    .option('--sessions <n>', help.sessions, String(MEASURE_DEFAULTS.sessions))
    .option('--silent-deadline-floor <duration>', SILENT_DEADLINE_FLOOR_HELP, formatDurationMs(MEASURE_DEFAULTS.silentDeadlineFloorMs));
}

/**
 * Every direction measured can ask the jump host beside the path's probes: outbound always;
 * inbound with the signal method (the sleep method fixes the moment the target speaks when the
 * command starts, and the leg then keeps sessions of its own).
 */
function witnessable(spec: TargetSpec): boolean {
  return measurableDirections(spec).every((d) => d === 'outbound' || spec.inbound?.method === 'signal');
}

/** The first ProxyJump hop as a target of its own: the client→jump leg alone. */
function jumpLegSpec(spec: TargetSpec): TargetSpec | null {
  const hop = spec.jumpHosts?.[0];
  if (!hop) return null;
  return { ...hop, directions: spec.directions, inbound: spec.inbound };
}

export type { JumpReport } from './jump-leg.ts';

/** Runs a measurement with the progress line and prints the result; shared with `demo`. */
export async function runAndPrint(spec: TargetSpec, opts: MeasureOptions, json: boolean, banner?: string, provenance: string[] = []): Promise<MeasurementResult> {
  const progress = progressLine();
  const abort = new AbortController();
  // Exit 130 like any interrupted command; sessions are closed on the way out.
  const onSignal = () => abort.abort(interruptedError());
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (banner && !json) process.stdout.write(banner);
  const jumpLeg = jumpLegSpec(spec);
  // The path's own probes tell the leg (./jump-leg.ts, PathProbeLeg), and the path gets the whole
  // budget: outbound probes ask the jump host beside them, and so do inbound ones by signal.
  const byPathProbes = jumpLeg && witnessable(spec) ? new PathProbeLeg() : null;
  // Otherwise both measurements run at once: each gets a share of the budget, and every connect of
  // both goes through one pacer (they all reach the jump host first).
  const share = jumpLeg && !byPathProbes ? shareOf(opts, 2) : opts;
  const connectPacer = opts.connectPacer ?? new ConnectPacer(realClock, opts);
  const main = resultFirst((onResult) =>
    measureTarget(spec, {
      ...share,
      connectPacer,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
      onSessionsOpen: (n) => progress.sessions(n),
      onResult,
      ...(byPathProbes ? { onFirstHopEvidence: byPathProbes.onEvidence, onInboundUnwitnessed: byPathProbes.onInboundUnwitnessed } : {}),
    }),
  );
  const leg = !jumpLeg
    ? null
    : byPathProbes
      ? legToldByPath(jumpLeg, byPathProbes, main.result, { ...opts, connectPacer }, abort.signal, (m) => progress.warn(m))
      : legBeside(jumpLeg, main.result, { ...share, connectPacer }, abort.signal);
  try {
    const [result, legResult] = await Promise.all([main.result, leg ? leg.report : Promise.resolve(null)]);
    progress.done();
    // -v: where each connection setting came from, before the summary (stderr beside --json).
    if (provenance.length) (json ? process.stderr : process.stdout).write(provenance.join('\n') + '\n');
    const jump: JumpReport | null = legResult ? { path: ['client', ...spec.jumpHosts!.map((h) => h.name), spec.name], jumpLeg: legResult } : null;
    if (json) process.stdout.write(JSON.stringify(jump ? { ...result, ...jump } : result, null, 2) + '\n');
    else process.stdout.write(formatSummary(result) + (jump ? formatJumpReport(jump) : ''));
    // The answer is out; the remote clean-up (waiters ended, sessions closed) finishes behind it.
    await Promise.allSettled([main.done, leg?.done()]);
    return result;
  } catch (err) {
    progress.done();
    // The other measurement must not outlive this one's failure (it would keep the process alive).
    abort.abort(err);
    await Promise.allSettled([main.done, leg?.done()]);
    if (err instanceof CredentialError) throw new UsageError(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The jump leg's report, and (once the report is known) when its own sessions, if any, are cleaned up. */
interface LegRun {
  report: Promise<JumpLegReport>;
  done: () => Promise<unknown>;
}

/**
 * The leg measured by its own search, beside the path with its own share of the sessions (the
 * sleep method), or after it in what the path's probes could not tell: it stops once it outlived
 * the path's timeout (./jump-leg.ts, JumpLegWatch).
 */
function legBeside(jumpLeg: TargetSpec, path: Promise<MeasurementResult>, opts: MeasureOptions, signal: AbortSignal): LegRun {
  const watch = new JumpLegWatch(jumpLeg.name, precisionOf(opts), signal);
  const leg = resultFirst((onResult) => measureTarget(jumpLeg, { ...opts, signal: watch.signal, onResult, onProgress: watch.onProgress }));
  void path.then((r) => watch.pathEnded(r), () => undefined /* the caller handles it */);
  const report = Promise.race([watch.outlived, leg.result.catch((err: Error): JumpLegReport => ({ target: jumpLeg.name, error: err.message }))]);
  return { report, done: () => leg.done };
}

/**
 * The leg told by the path's own probes (PathProbeLeg). A direction they could not tell (the jump
 * host refused the remote forward; the target's inbound fell back to the sleep method; the bound
 * came from an idle end) is then measured by the leg's own search — after the path, so with the
 * whole budget — which stops once it outlived the path (JumpLegWatch).
 */
function legToldByPath(jumpLeg: TargetSpec, told: PathProbeLeg, path: Promise<MeasurementResult>, opts: MeasureOptions, signal: AbortSignal, warn: (message: string) => void): LegRun {
  let own: LegRun | null = null;
  const report = path.then(async (r): Promise<JumpLegReport> => {
    const byPath = told.report(jumpLeg.name, r);
    const untold = untoldDirections(byPath);
    if (untold.length === 0 || signal.aborted) return byPath;
    // The answer waits for this search: say why (the path's result is already known).
    warn(`the path's probes could not tell the jump leg ${untold.join(' and ')} (${byPath.directions.map((d) => (d.reading === 'not_told' ? d.why : null)).filter((w) => w !== null).join('; ')}): measuring client → ${jumpLeg.name} with its own sessions`);
    own = legBeside({ ...jumpLeg, directions: untold }, Promise.resolve({ ...r, results: r.results.filter((x) => untold.includes(x.direction)) }), opts, signal);
    return withOwnSearch(byPath, await own.report);
  });
  return { report, done: () => own?.done() ?? Promise.resolve() };
}

/** `result`: the measurement's result as soon as it is known (onResult); `done`: once it also cleaned up. */
function resultFirst(start: (onResult: (r: MeasurementResult) => void) => Promise<MeasurementResult>): { result: Promise<MeasurementResult>; done: Promise<MeasurementResult> } {
  let early!: (r: MeasurementResult) => void;
  const known = new Promise<MeasurementResult>((resolve) => (early = resolve));
  const done = start(early);
  done.catch(() => undefined); // observed through `result`; never an unhandled rejection
  return { result: Promise.race([known, done]), done };
}

export function command(): Command {
  const cmd = new Command('measure')
    .description('Find the idle timeout of the network path to an SSH server (outbound and inbound).')
    .argument('<target>', '[user@]host[:port], user@[v6addr]:port, or an ssh_config Host alias')
    .option('--direction <dir>', 'outbound, inbound or both', 'both');
  addSearchOptions(cmd)
    .option('--inbound-command <cmd>', `the sleep method's command the server runs for inbound probes, {d} = age in seconds (implies --inbound-method sleep; default "${DEFAULT_SLEEP_COMMAND}")`)
    .option('--inbound-method <method>', `signal (the server speaks when the search decides, told through the control session; falls back to sleep where the shell cannot) or sleep (default: ${DEFAULT_INBOUND_METHOD}, or sleep with --inbound-command)`)
    .option('--no-inbound', 'do not run commands on the server (account without a shell): outbound only')
    .option('--json', 'print one JSON document (the measurement) on stdout');
  return addConnectionOptions(addReportOption(cmd)).action(async (targetArg: string, flags: MeasureFlags) => {
    const opts0 = buildMeasureOptions(flags);
    const connection = resolveConnection(targetArg, flags);
    const spec = targetSpecOf(connection, flags);
    const result = await runAndPrint(spec, { ...opts0, connectTimeoutMs: connection.connectTimeoutMs }, flags.json === true, undefined, connection.provenance);
    await writeReport(flags.report, formatSummary(result), (r, ctx) => r.measurementReport(result, ctx));
  });
}
