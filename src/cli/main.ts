// Entry point of the `idleprobe` CLI: parses the sub-command and hands over. Each sub-command
// lives in its own module exporting `command(): Command`; this file only wires them up and maps
// errors to exit codes (0 result, 2 bad usage, 3 target unreachable/auth, 4 bad capture input).
import { Command, CommanderError } from 'commander';
import { UsageError, exitCodeFor } from './errors.ts';
import { command as serveCommand } from './serve.ts';
import { command as heartbeatCommand } from './heartbeat.ts';
import { command as adviseCommand } from './advise.ts';
import { command as measureCommand } from './measure.ts';
import { command as demoCommand } from './demo.ts';
import { command as analyzeCommand } from './analyze.ts';
import { command as watchCommand } from './watch.ts';

type CommandFactory = () => Command;

async function loadCommands(): Promise<CommandFactory[]> {
  // Sub-commands register here (one import each).
  const factories: CommandFactory[] = [];
  factories.push(serveCommand);
  factories.push(heartbeatCommand);
  factories.push(adviseCommand);
  factories.push(measureCommand);
  factories.push(demoCommand);
  factories.push(analyzeCommand);
  factories.push(watchCommand);
  return factories;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('idleprobe')
    .description('Measure where networks drop idle SSH connections.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  for (const make of await loadCommands()) program.addCommand(make().exitOverride());
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
