// `idleprobe demo`: no root, no config. Starts an in-process SSH server behind an in-process
// middlebox that forgets idle flows after --timeout seconds, measures it like a real target
// (host key pinned, key auth, both directions) and prints the result.
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { parseSeconds, runAndPrint } from './measure.ts';
import { startDemoLab } from '../demo/lab.ts';
import { isProxyMode, MIDDLEBOX_MODES, type MiddleboxMode } from '../demo/middlebox.ts';
import { MEASURE_DEFAULTS } from '../probe/measure.ts';
import type { MeasureOptions } from '../probe/target.ts';
import type { Direction } from '../search/types.ts';
import { runTargetHeartbeatMatrix } from '../heartbeat/ssh-matrix.ts';
import { formatMatrix } from '../heartbeat/format.ts';
import type { TargetSpec } from '../probe/target.ts';

/**
 * A proxy demo shows what a proxy does to idle sessions: a survival matrix with SSH heartbeats below
 * and above T, kernel TCP keepalives well below T, and no heartbeat, over 3 T — the sessions the
 * proxy closes are `closed` at T, and kernel keepalives are seen not to help. (The timeout search's
 * own use of `closed` comes with issue 23's second part; until then `measure` would not conclude.)
 */
async function proxyDemo(spec: TargetSpec, timeoutSeconds: number, json: boolean, banner: string): Promise<void> {
  const half = Math.max(1, Math.floor(timeoutSeconds / 2));
  process.stderr.write(banner);
  process.stderr.write(`demo: survival matrix — SSH heartbeats every ${half} s and ${2 * timeoutSeconds} s, kernel TCP keepalives every ${half} s (tcp:${half}), none — over ${3 * timeoutSeconds} s…\n`);
  const matrix = await runTargetHeartbeatMatrix(spec, {
    intervalsSeconds: [half, 2 * timeoutSeconds],
    tcpKeepaliveSeconds: [half],
    windowSeconds: 3 * timeoutSeconds,
    countMax: 1,
    includeNoHeartbeat: true,
  });
  process.stdout.write(json ? JSON.stringify(matrix, null, 2) + '\n' : formatMatrix(matrix));
}

interface DemoFlags {
  timeout: string;
  mode: string;
  direction: string;
  serverHeartbeat?: string;
  json?: boolean;
}

/**
 * Search range for a known demo timeout T: the range `measure` would be given for such a path
 * (the search does not know T), with measure's own ladder (min 5 s, 250 ms connect stagger) so the
 * demo shows what `measure` does; only a small T lowers the first rung (to T/4), and the top is
 * 3 T so the demo ends in a minute or two. The ladder used to start at T/10 with a 100 ms stagger
 * (tuned for 8 + 8 sessions): with one shared pool that took 32.2 s at T = 20 s in the simulator
 * (exact expiry) vs 27.5 s now. At small T the wall time depends on where the rungs fall against T
 * (docs/search.md, Known limits), so this is measure's ladder, not one picked for T = 20 s.
 */
export function demoMeasureOptions(timeoutSeconds: number): MeasureOptions {
  const minSeconds = Math.max(1, Math.min(MEASURE_DEFAULTS.minSeconds, Math.floor(timeoutSeconds / 4)));
  return {
    ...MEASURE_DEFAULTS,
    minSeconds,
    maxSeconds: Math.max(minSeconds + 10, Math.ceil(timeoutSeconds * 3)),
  };
}

export function command(): Command {
  return new Command('demo')
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
          `demo: host key pinned to ${lab.hostKeySha256}${isProxyMode(mode) ? '.' : `; probing idle ages ${opts.minSeconds}–${opts.maxSeconds} s…`}\n`;
        if (isProxyMode(mode)) await proxyDemo(lab.target(['outbound']), timeoutSeconds, flags.json === true, banner);
        else await runAndPrint(lab.target(directions), opts, flags.json === true, banner);
      } finally {
        await lab.close();
      }
    });
}
