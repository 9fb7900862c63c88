// Entry point of the `idleprobe` CLI: parses the sub-command and hands over. Each sub-command
// lives in its own module exporting `command(): Command`; this file only wires them up and maps
// errors to exit codes (EXIT in errors.ts, the one rule: 0 result, 2 bad usage/config, 3 target
// unreachable, authentication failed, host key unknown or changed, 4 bad capture input, 5 a report of
// a capture not read to its end).
import { VERSION } from '../version.ts';
import { Command, CommanderError } from 'commander';
import { UsageError, exitCodeFor } from './errors.ts';
import { guardOutput } from './output.ts';

/**
 * Every sub-command, loaded only when it runs: `--version`, `--help` and each command pay for
 * their own modules only (ssh2, fastify, better-sqlite3 are slow to import). The summary is the
 * one line of the top-level listing; each module holds its full description and options.
 */
const COMMANDS: { name: string; summary: string; load: () => Promise<{ command: () => Command }> }[] = [
  { name: 'serve', summary: 'run as a Prometheus exporter: scheduled measurements, /metrics, /probe, JSON API', load: () => import('./serve.ts') },
  { name: 'heartbeat', summary: 'survival matrix: which heartbeat intervals keep an idle SSH session alive', load: () => import('./heartbeat.ts') },
  { name: 'advise', summary: 'recommend ServerAliveInterval/ClientAliveInterval (+ config snippets, --check-local)', load: () => import('./advise.ts') },
  { name: 'measure', summary: 'find the idle timeout of the network path to an SSH server', load: () => import('./measure.ts') },
  { name: 'demo', summary: 'measure a built-in SSH server behind a built-in middlebox (no root, no config)', load: () => import('./demo.ts') },
  { name: 'analyze', summary: 'read a pcap/pcapng capture: heartbeats, unanswered keepalives, idle timeouts', load: () => import('./analyze.ts') },
  { name: 'locate', summary: 'find which hop forgets idle connections (idle-timeout traceroute)', load: () => import('./locate.ts') },
  { name: 'watch', summary: 'watch live SSH traffic (tcpdump): unanswered heartbeats and idle deaths as they happen', load: () => import('./watch.ts') },
];

/** The exit-code rule (docs/prober.md), at the end of `idleprobe --help`. */
const EXIT_CODES_HELP = `
Exit codes (every command): 0 a result; 2 bad usage or configuration; 3 the target or a jump host
cannot be reached or logged into, or its host key is unknown or changed; 4 a broken capture file;
5 the report of a capture cut short or interrupted (what was read); 130 interrupted (SIGINT/SIGTERM:
sessions are closed on the way out). A closed stdout (| head) ends a command quietly.`;

/** The sub-command argv names, if any: the first word that is not an option. */
function invoked(argv: string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  // `idleprobe help measure` shows measure's own help, so measure must be loaded.
  return words[0] === 'help' ? words[1] : words[0];
}

export async function main(argv: string[]): Promise<number> {
  guardOutput();
  const program = new Command('idleprobe')
    .description('Measure where networks drop idle SSH connections.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  const name = invoked(argv);
  for (const entry of COMMANDS) {
    if (entry.name === name) program.addCommand((await entry.load()).command().summary(entry.summary).exitOverride());
    else program.command(entry.name).summary(entry.summary);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with code 0 through the same path.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`idleprobe: ${err.message}\n`);
      return 2;
    }
    const code = exitCodeFor(err);
    process.stderr.write(`idleprobe: ${err instanceof Error ? err.message : String(err)}\n`);
    return code;
  }
}
