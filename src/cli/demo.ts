// `idleprobe demo`: no root, no config. Starts an in-process SSH server behind an in-process
// middlebox that forgets idle flows after --timeout seconds (or, in the proxy modes, closes them),
// measures it like a real target (host key pinned, key auth, both directions) and prints the result.
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { parseSeconds, runAndPrint } from './measure.ts';
import { startDemoLab } from '../demo/lab.ts';
import { isProxyMode, MIDDLEBOX_MODES, type MiddleboxMode } from '../demo/middlebox.ts';
import { demoMeasureOptions } from '../demo/measure-range.ts';
import type { Direction } from '../search/types.ts';
import { formatSummary } from '../probe/summary.ts';
import { addReportOption, writeReport, type ReportFlags } from './report-option.ts';

interface DemoFlags extends ReportFlags {
  timeout: string;
  mode: string;
  direction: string;
  serverHeartbeat?: string;
  json?: boolean;
}

export function command(): Command {
  return addReportOption(new Command('demo'))
    .description('Measure a built-in SSH server behind a built-in middlebox that forgets idle flows (no root, no config).')
    .option('--timeout <seconds>', 'idle timeout of the demo middlebox', '20')
    .option(
      '--mode <mode>',
      `what the middlebox does to a forgotten flow: ${MIDDLEBOX_MODES.join(', ')} (close, close-reset: a proxy load balancer that closes idle connections itself, with FIN or RST)`,
      'silent',
    )
    .option('--direction <dir>', 'outbound, inbound or both', 'both')
    .option('--server-heartbeat <seconds>', 'let the demo server send heartbeats (like sshd ClientAliveInterval)')
    .option('--json', 'print one JSON document (the measurement) on stdout')
    .action(async (flags: DemoFlags) => {
      const timeoutSeconds = parseSeconds(flags.timeout, '--timeout');
      if (timeoutSeconds > 600) throw new UsageError('--timeout above 600 s makes the demo take far too long; use `measure` against a real target');
      if (!MIDDLEBOX_MODES.includes(flags.mode as MiddleboxMode)) throw new UsageError(`--mode must be one of ${MIDDLEBOX_MODES.join(', ')}, got "${flags.mode}"`);
      const directions: Direction[] =
        flags.direction === 'both' ? ['outbound', 'inbound'] : flags.direction === 'outbound' || flags.direction === 'inbound' ? [flags.direction] : [];
      if (directions.length === 0) throw new UsageError(`--direction must be outbound, inbound or both, got "${flags.direction}"`);
      const serverHeartbeatSeconds = flags.serverHeartbeat === undefined ? undefined : parseSeconds(flags.serverHeartbeat, '--server-heartbeat');
      const lab = await startDemoLab({ timeoutSeconds, mode: flags.mode as MiddleboxMode, serverHeartbeatSeconds });
      try {
        const opts = demoMeasureOptions(timeoutSeconds);
        const mode = flags.mode as MiddleboxMode;
        const box = isProxyMode(mode)
          ? `a proxy load balancer at ${lab.host}:${lab.port} that closes connections idle for more than ${timeoutSeconds} s (${mode === 'close' ? 'FIN' : 'RST'}, whatever TCP keepalives do)`
          : `a middlebox at ${lab.host}:${lab.port} that forgets flows idle for more than ${timeoutSeconds} s (then: ${mode})`;
        const banner =
          `demo: SSH server behind ${box}${serverHeartbeatSeconds ? `; the server sends heartbeats every ${serverHeartbeatSeconds} s` : ''}.\n` +
          `demo: host key pinned to ${lab.hostKeySha256}; probing idle ages ${opts.minSeconds}–${opts.maxSeconds} s…\n`;
        // A proxy is measured like any box: each idle session it closes is an observation of its
        // timeout (docs/search.md). `idleprobe heartbeat --intervals …,tcp:N` shows that kernel
        // keepalives do not help against it.
        const result = await runAndPrint(lab.target(directions), opts, flags.json === true, banner);
        await writeReport(flags.report, banner + formatSummary(result), (r, ctx) => r.measurementReport(result, ctx));
      } finally {
        await lab.close();
      }
    });
}
