// `idleprobe analyze FILE|- [--port 22] [--json]`: reads a pcap/pcapng capture (file or stdin) and
// says, per SSH connection, whether heartbeats and keepalives went out and got answers, and where
// the path dropped idle connections. Thin: parse flags, stream the input, print.
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { openCapture } from './capture-file.ts';
import { DEFAULT_MAX_FLOWS_LISTED, DEFAULT_MAX_LIVE_FLOWS, analyzeStream, type AnalysisReport } from '../capture/index.ts';
import { formatAnalysisTable } from '../capture/table.ts';
import { DEATH_AGE_BUCKETS } from '../capture/passive-counters.ts';
import { addReportOption, writeReport } from './report-option.ts';

function parseCount(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}

export function command(): Command {
  return addReportOption(new Command('analyze'))
    .description('Read a tcpdump/tshark capture (pcap or pcapng, file or "-" for stdin) and report heartbeats, unanswered keepalives and idle timeouts per SSH connection.')
    .argument('<file>', 'capture file, or - to read stdin (tcpdump -w - … | idleprobe analyze -)')
    .option('--port <port>', 'analyse connections with this TCP port on either side, no banner needed; 0 = every TCP connection (default: SSH connections, recognised by their SSH-2.0- banner on any port)', parseCount('--port', 0))
    .option('--json', 'print the full report as JSON')
    .option('--max-packets <n>', 'stop after this many packets', parseCount('--max-packets', 1))
    .option('--max-flows <n>', 'list at most this many connections (all are counted)', parseCount('--max-flows', 1), DEFAULT_MAX_FLOWS_LISTED)
    .option(
      '--max-live-flows <n>',
      'connections held in memory at once; beyond it the oldest half-open, then longest-idle ones are evicted (counted in the report)',
      parseCount('--max-live-flows', 1),
      DEFAULT_MAX_LIVE_FLOWS,
    )
    .action(async (file: string, flags: { port?: number; json?: boolean; maxPackets?: number; maxFlows: number; maxLiveFlows: number; report?: string }) => {
      if (flags.port !== undefined && flags.port > 65535) throw new UsageError(`--port must be ≤ 65535, got ${flags.port}`);
      const input = file === '-' ? process.stdin : await openCapture(file);
      const report = await analyzeStream(input, {
        scope: flags.port === undefined ? 'ssh' : flags.port === 0 ? 'all' : { port: flags.port },
        maxPackets: flags.maxPackets,
        maxFlows: flags.maxFlows,
        maxLiveFlows: flags.maxLiveFlows,
      });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : human(report, file));
      await writeReport(flags.report, human(report, file), (r, ctx) => r.captureReport(report, file === '-' ? 'stdin' : file, DEATH_AGE_BUCKETS, ctx));
    });
}

function human(report: AnalysisReport, file: string): string {
  return formatAnalysisTable(report, file === '-' ? 'stdin' : file);
}
