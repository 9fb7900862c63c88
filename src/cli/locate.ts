// `idleprobe locate [user@]host[:port]`: which hop forgets idle connections (idle-timeout
// traceroute). Thin: flags → options, call locateTarget, print the summary or the JSON document.
import { Command } from 'commander';
import { interruptedError, UsageError } from './errors.ts';
import { formatDuration } from './progress.ts';
import { addSearchOptions, parseAgeRange, parseSeconds, parseSessions, type SearchFlags } from './measure.ts';
import { parseSilentDeadlineFloor } from './setting-flags.ts';
import { addConnectionOptions, resolveConnection, targetSpecOf, warnOnStderr, type ConnectionFlags } from './target-spec.ts';
import { CredentialError } from '../probe/credentials.ts';
import { LOCATE_DEFAULTS, locateTarget, type LocateTargetOptions } from '../probe/locate.ts';
import { formatLocateSummary } from '../probe/locate-summary.ts';
import type { LocateProgress, PathTimeout } from '../search/locate-types.ts';
import { basisFromHistory } from './timeout-source.ts';
import { addReportOption, writeReport, type ReportFlags } from './report-option.ts';

interface LocateFlags extends ConnectionFlags, SearchFlags, ReportFlags {
  maxHops: string;
  timeout?: string;
  history?: string;
  name?: string;
}

/** The path timeout of the target's latest successful measurement in the daemon's history. */
export function pathTimeoutFromHistory(file: string, names: string[]): PathTimeout {
  const { basis } = basisFromHistory(file, names);
  const b = basis.bracket;
  if (!b || b.upperSeconds === null) throw new UsageError(`--history: the latest measurement of ${names[0]} in ${file} found no idle timeout: nothing to locate (run without --history to measure)`);
  const lower = b.lowerSeconds;
  return { lowerSeconds: lower, upperSeconds: b.upperSeconds, estimateSeconds: lower === null ? b.upperSeconds : (lower + b.upperSeconds) / 2, failureMode: basis.failureMode };
}

export function parseMaxHops(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 1 || n > 255) throw new UsageError(`--max-hops must be an integer 1–255, got "${value}"`);
  return n;
}

/** The search flags → LocateTargetOptions (the connection's deadline is added once TARGET is resolved). */
export function buildLocateOptions(flags: LocateFlags): LocateTargetOptions {
  const { minSeconds, maxSeconds } = parseAgeRange(flags.min, flags.max);
  const opts: LocateTargetOptions = {
    maxHops: parseMaxHops(flags.maxHops),
    minSeconds,
    maxSeconds,
    sessions: parseSessions(flags.sessions),
    silentDeadlineFloorMs: parseSilentDeadlineFloor(flags.silentDeadlineFloor),
  };
  if (flags.timeout !== undefined) {
    opts.timeoutSeconds = parseSeconds(flags.timeout, '--timeout');
    if (opts.timeoutSeconds >= maxSeconds) throw new UsageError(`--timeout (${opts.timeoutSeconds}) must be below --max (${maxSeconds})`);
  }
  return opts;
}

/** The live line: phase, boxes so far, sessions, elapsed, ETA of the current step. Pure. */
export function renderLocateProgress(p: LocateProgress | null, sessionsOpen: number, elapsedMs: number): string {
  const parts: string[] = [];
  if (p) {
    if (p.phase === 'path_timeout') parts.push(`path timeout (${bound(p.lowerSeconds)}, ${bound(p.upperSeconds)}]`);
    else if (p.phase === 'frontier') parts.push(`testing hops ${p.hops[0]}–${p.hops[1]}`);
    else parts.push(`beyond hop ${p.hops[0]}: (${bound(p.lowerSeconds)}, ${bound(p.upperSeconds)}]`);
    if (p.boxes.length) parts.push(p.boxes.map((b) => `hop ${b.hop} ${b.estimateSeconds === null ? '≤ min' : `≈ ${b.estimateSeconds.toFixed(1)} s`}`).join(', '));
  }
  parts.push(`${sessionsOpen} session${sessionsOpen === 1 ? '' : 's'} open`);
  parts.push(`${formatDuration(elapsedMs)} elapsed`);
  if (p?.etaMs != null) parts.push(`step ETA ${formatDuration(Math.max(0, p.etaMs - Math.max(0, elapsedMs - p.elapsedMs)))}`);
  return parts.join(' · ');
}

function bound(v: number | null): string {
  return v === null ? '…' : `${Math.round(v * 10) / 10}`;
}

function locateProgressLine(stream: NodeJS.WriteStream = process.stderr) {
  const startedAt = Date.now();
  let last: LocateProgress | null = null;
  let open = 0;
  const live = stream.isTTY === true;
  let shown = false;
  const draw = () => {
    if (!live) return;
    const width = Math.max(20, (stream.columns || 100) - 1);
    stream.write(`\r\x1b[K${renderLocateProgress(last, open, Date.now() - startedAt).slice(0, width)}`);
    shown = true;
  };
  const timer = live ? setInterval(draw, 1000) : null;
  timer?.unref();
  return {
    update(p: LocateProgress) {
      last = { ...p, elapsedMs: Date.now() - startedAt };
      draw();
    },
    sessions(n: number) {
      open = n;
      draw();
    },
    done() {
      if (timer) clearInterval(timer);
      if (shown) stream.write('\r\x1b[K');
    },
  };
}

export function command(): Command {
  const cmd = addReportOption(new Command('locate'))
    .description('Find which hop forgets idle connections: the hop, timeout and failure mode of each box (idle-timeout traceroute).')
    .argument('<target>', '[user@]host[:port], user@[v6addr]:port, or an ssh_config Host alias (reached directly: not through a jump host)')
    .option('--max-hops <n>', 'highest TTL to try', String(LOCATE_DEFAULTS.maxHops))
    .option('--timeout <duration>', 'the path idle timeout if known (10 = seconds, or 10s, 5m): verified just below and above it, measured when it does not hold')
    .option('--history <file>', "take the path timeout from the target's latest measurement in the daemon's history file (verified like --timeout)")
    .option('--name <name>', 'with --history: the target name there (default user@host:port)');
  addSearchOptions(cmd, { max: 'longest idle age to probe (also how far beyond the last box is searched)', sessions: 'concurrent sessions of each timeout search' }).option('--json', 'print one JSON document on stdout');
  return addConnectionOptions(cmd)
    .action(async (targetArg: string, flags: LocateFlags) => {
      const opts = buildLocateOptions(flags);
      if (flags.history && flags.timeout !== undefined) throw new UsageError('give --timeout or --history, not both');
      // TTLs on our socket reach the first jump host only: a jump path is refused, never measured as the target's.
      const connection = resolveConnection(targetArg, flags, warnOnStderr, 'locate');
      const spec = targetSpecOf(connection, { direction: 'outbound', inbound: false });
      opts.connectTimeoutMs = connection.connectTimeoutMs;
      for (const line of connection.provenance) process.stderr.write(line + '\n');
      if (flags.history) opts.pathTimeout = pathTimeoutFromHistory(flags.history, [...new Set([flags.name ?? spec.name, spec.name])]);
      const progress = locateProgressLine();
      const abort = new AbortController();
      const onSignal = () => abort.abort(interruptedError());
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const outcome = await locateTarget(spec, {
          ...opts,
          signal: abort.signal,
          onProgress: (p) => progress.update(p),
          onSessionsOpen: (n) => progress.sessions(n),
        });
        progress.done();
        if (flags.json) {
          process.stdout.write(JSON.stringify(outcome.document, null, 2) + '\n');
          if (outcome.result.reason && outcome.result.verdict !== 'located') process.stderr.write(`idleprobe: ${outcome.result.verdict.replaceAll('_', ' ')}: ${outcome.result.reason}\n`);
          const given = outcome.document.givenTimeout;
          if (given && !given.held) process.stderr.write(`idleprobe: ${given.source === '--timeout' ? `--timeout ${given.seconds} was wrong` : `the history's latest measurement (${given.seconds} s) no longer holds`}: the path timeout was measured instead (${outcome.document.pathTimeoutSeconds ?? `≤ ${outcome.document.pathTimeoutBracket?.upperSeconds ?? '?'}`} s)\n`);
        } else process.stdout.write(formatLocateSummary(outcome));
        await writeReport(flags.report, formatLocateSummary(outcome), (r, ctx) => r.locateReport(outcome.document, ctx));
      } catch (err) {
        progress.done();
        if (err instanceof CredentialError) throw new UsageError(err.message);
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
