// `idleprobe analyze FILE|- [--scope ssh|all|PORT] [--json]`: reads a pcap/pcapng capture (file or
// stdin, gzip-compressed or not) and says, per SSH connection, whether heartbeats and keepalives
// went out and got answers, and where the path dropped idle connections. Thin: parse flags, stream
// the input, print.
import { Command } from 'commander';
import { captureInput, reportIncomplete, stopOnSignals } from './capture-file.ts';
import { addScopeOptions, parseCount, scopeFrom, type ScopeFlags } from './capture-flags.ts';
import { DEFAULT_MAX_FLOWS_LISTED, DEFAULT_MAX_LIVE_FLOWS, analyzeStream } from '../capture/index.ts';
import { formatAnalysisTable } from '../capture/table.ts';
import { DEATH_AGE_BUCKETS } from '../capture/passive-counters.ts';
import { addReportOption, writeReport, type ReportFlags } from './report-option.ts';

interface AnalyzeFlags extends ScopeFlags, ReportFlags {
  json?: boolean;
  maxPackets?: number;
  maxFlows: number;
  maxLiveFlows: number;
}

export function command(): Command {
  return addScopeOptions(
    addReportOption(new Command('analyze'))
      .description('Read a tcpdump/tshark capture (pcap or pcapng, gzip-compressed or not; a file or "-" for stdin) and report heartbeats, unanswered keepalives, idle timeouts and closes after idle (by a proxy) per SSH connection.')
      .argument('<file>', 'capture file, or - to read stdin (tcpdump -w - … | idleprobe analyze -; Ctrl-C reports what was read)'),
  )
    .option('--json', 'print the full report as JSON')
    .option('--max-packets <n>', 'stop after this many packets', parseCount('--max-packets', 1))
    .option('--max-flows <n>', 'list at most this many connections (all are counted)', parseCount('--max-flows', 1), DEFAULT_MAX_FLOWS_LISTED)
    .option(
      '--max-live-flows <n>',
      'connections held in memory at once; beyond it the oldest half-open, then longest-idle ones are evicted (counted in the report)',
      parseCount('--max-live-flows', 1),
      DEFAULT_MAX_LIVE_FLOWS,
    )
    .action(async (file: string, flags: AnalyzeFlags) => {
      const scope = scopeFrom(flags);
      const { input, name, isStdin } = await captureInput(file);
      const signals = stopOnSignals(isStdin);
      try {
        const report = await analyzeStream(input, { scope, maxPackets: flags.maxPackets, maxFlows: flags.maxFlows, maxLiveFlows: flags.maxLiveFlows, signal: signals.signal, stopRequested: signals.requested });
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAnalysisTable(report, name));
        reportIncomplete(report.incomplete, report.packets);
        await writeReport(flags.report, formatAnalysisTable(report, name), (r, ctx) => r.captureReport(report, name, DEATH_AGE_BUCKETS, ctx));
      } finally {
        signals.dispose();
      }
    });
}
