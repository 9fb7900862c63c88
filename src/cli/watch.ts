// `idleprobe watch [-i any] [--port N] [--json] [--read FILE]`: live SSH traffic through the same
// analysis as `analyze` — heartbeats that go unanswered and idle deaths as they happen. A refreshing
// table on a terminal, one line per event otherwise, NDJSON with --json; a one-screen summary on
// Ctrl-C/SIGTERM (or at the end of a --read replay). Thin: parse flags, run, print.
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { openCapture } from './capture-file.ts';
import { realClock } from '../search/clock.ts';
import type { ConnectionScope } from '../capture/connection-scope.ts';
import type { ConnectionEvent } from '../capture/events.ts';
import { runWatch, type WatchSource } from '../capture/live-watch.ts';
import type { WatchEvent } from '../capture/watch-stats.ts';
import { formatEventLine, formatWatchScreen, formatWatchSummary } from '../capture/watch-table.ts';

interface WatchFlags {
  interface: string;
  port?: number;
  filter?: string;
  json?: boolean;
  read?: string;
  tcpdump?: string;
  heartbeats?: boolean;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be an integer 0–65535, got "${value}"`);
  return n;
}

export function command(): Command {
  return new Command('watch')
    .description('Watch live SSH traffic (tcpdump, needs CAP_NET_RAW): heartbeats that go unanswered and idle deaths as they happen.')
    .option('-i, --interface <name>', 'interface to capture on ("any" = all)', 'any')
    .option('--port <port>', 'only connections on this TCP port, no banner needed; 0 = every TCP connection (default: SSH recognised by its banner on any port)', parsePort)
    .option('--filter <bpf>', 'capture filter for tcpdump (default: "tcp", or "tcp port N" with --port)')
    .option('--json', 'print events as NDJSON (one JSON object per line), then a summary object')
    .option('--read <file>', 'replay a pcap/pcapng capture (or - for stdin) through the live path instead of capturing')
    .option('--tcpdump <path>', 'tcpdump binary (default: tcpdump on PATH)')
    .option('--heartbeats', 'also report every answered heartbeat (otherwise only counted)')
    .action(async (flags: WatchFlags) => {
      const scope: ConnectionScope = flags.port === undefined ? 'ssh' : flags.port === 0 ? 'all' : { port: flags.port };
      const filter = flags.filter ?? (flags.port ? `tcp port ${flags.port}` : 'tcp');
      let source: WatchSource;
      if (flags.read !== undefined) {
        source = { kind: 'read', input: flags.read === '-' ? process.stdin : await openCapture(flags.read), name: flags.read === '-' ? 'stdin' : flags.read };
      } else {
        source = { kind: 'live', tcpdump: { interface: flags.interface, filter, tcpdumpPath: flags.tcpdump } };
      }
      await watch(source, scope, flags);
    });
}

async function watch(source: WatchSource, scope: ConnectionScope, flags: WatchFlags): Promise<void> {
  const out = process.stdout;
  const tty = out.isTTY === true && !flags.json;
  const title = source.kind === 'read' ? `replay of ${source.name}` : `watching ${source.tcpdump.interface} (${source.tcpdump.filter})`;
  const finals: ConnectionEvent[] = [];
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  if (source.kind === 'live') {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  const onEvent = (e: WatchEvent): void => {
    if (e.event === 'still_open') finals.push(e);
    if (flags.json) out.write(`${JSON.stringify(e)}\n`);
    else if (!tty) {
      const line = formatEventLine(e);
      if (line !== null) out.write(`${line}\n`);
    } else if (e.event === 'capture_died' || e.event === 'capture_restart_failed') {
      // On the screen these would be redrawn away: stderr keeps them.
      process.stderr.write(`${formatEventLine(e)}\n`);
    }
  };
  try {
    const result = await runWatch({
      source,
      scope,
      clock: realClock,
      signal: controller.signal,
      heartbeatEvents: flags.heartbeats,
      onEvent,
      onTick: tty ? (v) => out.write(`\x1b[H\x1b[2J${formatWatchScreen(title, v.stats, v.connections, v.nowSeconds, v.packets)}`) : undefined,
    });
    const elapsed = source.kind === 'read' ? result.nowSeconds - result.firstPacketSeconds : realClock.now() / 1000 - result.startedAtSeconds;
    if (flags.json) {
      const { stats, report } = result;
      out.write(
        `${JSON.stringify({
          event: 'summary',
          packets: report.packets,
          connections: stats.opened,
          died: stats.died,
          diedBy: stats.diedBy,
          closed: stats.closed,
          stillOpen: stats.stillOpen,
          forgotten: stats.forgotten,
          withoutHeartbeat: stats.withoutHeartbeat,
          heartbeatsUnanswered: stats.heartbeatsUnanswered,
          captureRestarts: stats.captureRestarts,
          connectionsNotSsh: report.connectionsNotSsh,
          idleTimeoutBracket: report.idleTimeoutBracket,
          paths: report.paths,
          verdicts: report.verdicts,
        })}\n`,
      );
    } else {
      if (tty) out.write('\x1b[H\x1b[2J');
      out.write(`${tty ? '' : '\n'}${formatWatchSummary(title, result.stats, result.report, elapsed, finals)}`);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

