// `idleprobe heartbeat TARGET --intervals 15,30,45,60,120,300 --window 30m`: which heartbeat
// intervals keep an idle SSH session alive on this path, by experiment. Thin: parse, run, print.
import { Command, Option } from 'commander';
import { interruptedError, UsageError } from './errors.ts';
import { addConnectionOptions, resolveConnection, targetSpecOf, warnOnStderr, type Connection, type ConnectionFlags } from './target-spec.ts';
import { validateMatrixOptions } from '../heartbeat/matrix.ts';
import { runTargetHeartbeatMatrix } from '../heartbeat/ssh-matrix.ts';
import { withCrossCheck, type TimeoutBracket } from '../heartbeat/cross-check.ts';
import { formatMatrix } from '../heartbeat/format.ts';
import { parseHeartbeatRows } from '../heartbeat/intervals.ts';
import { parseDurationSeconds } from '../duration.ts';
import { DEFAULT_COUNT_MAX, DEFAULT_INTERVALS_SECONDS, DEFAULT_WINDOW_SECONDS, rowLabel } from '../heartbeat/types.ts';
import { basisFromHistory, basisFromSeconds } from './timeout-source.ts';
import { addReportOption, writeReport, type ReportFlags } from './report-option.ts';
import type { TargetSpec } from '../probe/target.ts';

/** The connection flags plus `--name` (the target's name in history and metrics), as heartbeat and advise take them. */
export interface NamedConnectionFlags extends ConnectionFlags {
  name?: string;
}

export function addNameOption(cmd: Command): Command {
  return cmd.option('--name <name>', 'target name (metric label and history key; default user@host:port)');
}

/** TARGET and the connection flags → a TargetSpec for outbound heartbeats, named by --name if given. */
export function heartbeatTarget(arg: string, f: NamedConnectionFlags): { connection: Connection; spec: TargetSpec } {
  const connection = resolveConnection(arg, f);
  return { connection, spec: targetSpecOf(connection, { direction: 'outbound', inbound: true }, f.name) };
}

/** Runs `fn`, turning RangeErrors from the pure parsers into usage errors (exit 2). */
export function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
}

interface HeartbeatFlags extends NamedConnectionFlags, ReportFlags {
  intervals: string;
  window: string;
  countMax: string;
  /** false with --no-heartbeat-session (commander's negatable option). */
  heartbeatSession: boolean;
  timeout?: string;
  history?: string;
  json?: boolean;
}

export function command(): Command {
  const cmd = new Command('heartbeat')
    .description(
      'Survival matrix: one idle SSH session per heartbeat interval (keepalive@openssh.com, like ServerAliveInterval) plus one without, over a window; reports which intervals keep the session alive. tcp:N rows send nothing at SSH level but kernel TCP keepalives every N s (like TCPKeepAlive with tcp_keepalive_time N): they tell whether lowering tcp_keepalive_time can help on this path.',
    )
    .argument('<target>', '[user@]host[:port]')
    .option(
      '--intervals <list>',
      'heartbeat intervals, comma-separated (seconds, or with s/m units); tcp:N adds a session with kernel TCP keepalives every N whole seconds and no SSH heartbeat (e.g. 5,20,tcp:5,tcp:20)',
      DEFAULT_INTERVALS_SECONDS.join(','),
    )
    .option('--window <duration>', 'how long each session runs (e.g. 40s, 30m)', `${DEFAULT_WINDOW_SECONDS / 60}m`)
    .option('--count-max <n>', 'dead after this many consecutive unanswered heartbeats (ServerAliveCountMax)', String(DEFAULT_COUNT_MAX))
    .addOption(new Option('--no-heartbeat-session', 'do not run the extra session without heartbeat'))
    .option('--timeout <duration>', 'cross-check against this measured idle timeout (10 = seconds, or 10s, 5m)')
    .option('--history <file>', "cross-check against the target's latest measurement in the daemon's history file")
    .option('--json', 'one JSON document on stdout');
  addConnectionOptions(addNameOption(addReportOption(cmd)));
  return cmd.action(async (targetArg: string, f: HeartbeatFlags) => {
    const rows = usage(() => parseHeartbeatRows(f.intervals));
    const intervalsSeconds = rows.ssh;
    const tcpKeepaliveSeconds = rows.tcp;
    const windowSeconds = usage(() => parseDurationSeconds(f.window, '--window'));
    const countMax = Number(f.countMax);
    const includeNoHeartbeat = f.heartbeatSession !== false;
    usage(() => validateMatrixOptions({ intervalsSeconds, tcpKeepaliveSeconds, windowSeconds, countMax, includeNoHeartbeat }));
    if (f.timeout && f.history) throw new UsageError('give --timeout or --history, not both');
    const { connection, spec } = heartbeatTarget(targetArg, f);
    for (const line of connection.provenance) process.stderr.write(line + '\n');
    const bracket: TimeoutBracket | null = f.timeout
      ? usage(() => basisFromSeconds(parseDurationSeconds(f.timeout!, '--timeout'))).bracket
      : f.history
        ? basisFromHistory(f.history, [spec.name]).basis.bracket
        : null;
    const longer = intervalsSeconds.filter((h) => h >= windowSeconds);
    if (longer.length) process.stderr.write(`idleprobe: note: interval(s) ${longer.join(', ')} s are not shorter than the window: those sessions send no heartbeat before the end-of-window check\n`);
    const longerTcp = tcpKeepaliveSeconds.filter((n) => n >= windowSeconds);
    if (longerTcp.length) process.stderr.write(`idleprobe: note: ${longerTcp.map((n) => `tcp:${n}`).join(', ')} are not shorter than the window: those sockets send no kernel keepalive before the end-of-window check\n`);

    const controller = new AbortController();
    const onSignal = () => controller.abort(interruptedError());
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const tty = !f.json && process.stderr.isTTY;
    const sessions = intervalsSeconds.length + tcpKeepaliveSeconds.length + (includeNoHeartbeat ? 1 : 0);
    if (tty) process.stderr.write(`Running ${sessions} sessions for ${windowSeconds} s against ${spec.name}…\n`);
    try {
      const matrix = await runTargetHeartbeatMatrix(spec, {
        connectTimeoutMs: connection.connectTimeoutMs,
        intervalsSeconds,
        tcpKeepaliveSeconds,
        windowSeconds,
        countMax,
        includeNoHeartbeat,
        signal: controller.signal,
        onServerCleanup: (c) => {
          if (c.problem) warnOnStderr(`${c.asked} session(s) the path forgot may stay on the server until its TCP keepalive ends them: ${c.problem}`);
        },
        onSessionDone: (r) => {
          const who = r.intervalSeconds === null ? 'no heartbeat' : r.kind === 'tcp' ? `${rowLabel(r)} (kernel keepalives)` : `every ${r.intervalSeconds} s`;
          if (tty) process.stderr.write(`  ${who}: ${r.survived ? 'survived' : `died (${r.cause})`}\n`);
        },
      });
      const checked = withCrossCheck(matrix, bracket);
      if (f.json) process.stdout.write(JSON.stringify(checked, null, 2) + '\n');
      else process.stdout.write(formatMatrix(checked));
      // Contradictions are results, but they must not scroll by unnoticed.
      for (const c of [...checked.anomalies, ...(checked.crossCheck?.contradictions ?? [])]) process.stderr.write(`idleprobe: CONTRADICTION: ${c}\n`);
      await writeReport(f.report, formatMatrix(checked), (r, ctx) => r.heartbeatReport(checked, ctx));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
