// `idleprobe watch [-i any] [--scope ssh|all|PORT] [--json] [--read FILE]`: live SSH traffic through
// the same analysis as `analyze` — heartbeats that go unanswered and idle deaths as they happen. A
// refreshing table on a terminal, one line per event otherwise, NDJSON with --json; a one-screen
// summary on Ctrl-C/SIGTERM (or at the end of a --read replay). Thin: parse flags, run, print.
import { Command } from 'commander';
import { captureInput, reportIncomplete, stopOnSignals } from './capture-file.ts';
import { addScopeOptions, scopeFrom, type ScopeFlags } from './capture-flags.ts';
import { outputClosed } from './output.ts';
import { realClock } from '../search/clock.ts';
import type { ConnectionScope } from '../capture/connection-scope.ts';
import type { ConnectionEvent } from '../capture/events.ts';
import { runWatch, type WatchSource } from '../capture/live-watch.ts';
import type { WatchEvent } from '../capture/watch-stats.ts';
import { formatEventLine, formatWatchScreen, formatWatchSummary } from '../capture/watch-table.ts';

interface WatchFlags extends ScopeFlags {
  interface: string;
  filter?: string;
  json?: boolean;
  read?: string;
  tcpdump?: string;
  heartbeats?: boolean;
}

export function command(): Command {
  return addScopeOptions(
    new Command('watch')
      .description('Watch live SSH traffic (tcpdump, needs CAP_NET_RAW): heartbeats that go unanswered and idle deaths as they happen.')
      .option('-i, --interface <name>', 'interface to capture on ("any" = all)', 'any'),
  )
    .option('--filter <bpf>', 'capture filter for tcpdump (default: "tcp", or "tcp port N" with a port scope)')
    .option('--json', 'print events as NDJSON (one JSON object per line), then a summary object')
    .option('--read <file>', 'replay a pcap/pcapng capture, gzip-compressed or not (or - for stdin) through the live path instead of capturing')
    .option('--tcpdump <path>', 'tcpdump binary (default: tcpdump on PATH)')
    .option('--heartbeats', 'also report every answered heartbeat (otherwise only counted)')
    .action(async (flags: WatchFlags) => {
      const scope = scopeFrom(flags);
      const filter = flags.filter ?? (typeof scope === 'object' ? `tcp port ${scope.port}` : 'tcp');
      let source: WatchSource;
      let isStdin = false;
      if (flags.read !== undefined) {
        const read = await captureInput(flags.read);
        isStdin = read.isStdin;
        source = { kind: 'read', input: read.input, name: read.name };
      } else {
        source = { kind: 'live', tcpdump: { interface: flags.interface, filter, tcpdumpPath: flags.tcpdump } };
      }
      await watch(source, scope, flags, isStdin);
    });
}

async function watch(source: WatchSource, scope: ConnectionScope, flags: WatchFlags, isStdin: boolean): Promise<void> {
  const out = process.stdout;
  const tty = out.isTTY === true && !flags.json;
  const title = source.kind === 'read' ? `replay of ${source.name}` : `watching ${source.tcpdump.interface} (${source.tcpdump.filter})`;
  const finals: ConnectionEvent[] = [];
  // Stopped by Ctrl-C/SIGTERM (a replay: after reading what stdin's writer flushes), or when
  // stdout's reader went away (`| head`): then there is nobody to tell anything, the watch just ends.
  const signals = stopOnSignals(source.kind === 'read' ? isStdin : false);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  signals.signal.addEventListener('abort', stop, { once: true });
  outputClosed.addEventListener('abort', stop, { once: true });
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
      stopRequested: signals.requested,
      heartbeatEvents: flags.heartbeats,
      onEvent,
      onTick: tty ? (v) => out.write(`\x1b[H\x1b[2J${formatWatchScreen(title, v.stats, v.connections, v.nowSeconds, v.packets)}`) : undefined,
    });
    const elapsed = source.kind === 'read' ? result.nowSeconds - result.firstPacketSeconds : realClock.now() / 1000 - result.startedAtSeconds;
    if (outputClosed.aborted) return;
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
          incomplete: report.incomplete,
        })}\n`,
      );
    } else {
      if (tty) out.write('\x1b[H\x1b[2J');
      out.write(`${tty ? '' : '\n'}${formatWatchSummary(title, result.stats, result.report, elapsed, finals)}`);
    }
    reportIncomplete(result.report.incomplete, result.report.packets);
  } finally {
    signals.dispose();
    outputClosed.removeEventListener('abort', stop);
  }
}

