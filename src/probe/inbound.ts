// How a target's inbound probes make the server speak first, decided once from the settings
// (`inbound_method` / `inbound_command` in YAML, `--inbound-method` / `--inbound-command` /
// `--no-inbound` on the CLI) and carried as one value from then on:
//  - signal: a silent waiter on each probe session prints when the control session signals it
//    (the prober falls back to `sleep` by itself where the login shell cannot run the waiter);
//  - sleep: `command` (`{d}` = the age in seconds) fixes the age when it starts.
// No layer below re-applies a default or compares commands: it reads this value.
import type { InboundMethod } from '../search/types.ts';

export type InboundProbe = { method: 'signal' } | { method: 'sleep'; command: string };

/** The sleep method's own command (it gets a start marker, see sleep-probe.ts). */
export const DEFAULT_SLEEP_COMMAND = 'sleep {d}; echo idleprobe';

/** The method when none is given and no command either. */
export const DEFAULT_INBOUND_METHOD: InboundMethod = 'signal';

/** The settings contradict each other or name an unusable command; `field` says which one. */
export class InboundSettingsError extends Error {
  constructor(
    readonly field: 'inbound_method' | 'inbound_command',
    message: string,
  ) {
    super(message);
    this.name = 'InboundSettingsError';
  }
}

/**
 * The one place the inbound settings become a method. `command`: null = the account has no shell
 * (no inbound probes); a string = the sleep method with that command (only the sleep method runs
 * a command the user chose); absent = the method's own. `method` absent: signal, or sleep when a
 * command is given.
 */
export function inboundProbeOf(method: InboundMethod | undefined, command: string | null | undefined): InboundProbe | null {
  if (command === null) return null;
  if (command !== undefined) {
    if (method === 'signal') {
      throw new InboundSettingsError('inbound_method', 'the signal method runs its own waiter, not a command: drop the inbound command, or choose the sleep method');
    }
    if (!command.includes('{d}')) throw new InboundSettingsError('inbound_command', 'must contain {d} (replaced by the probe age in seconds)');
    return { method: 'sleep', command };
  }
  return (method ?? DEFAULT_INBOUND_METHOD) === 'signal' ? { method: 'signal' } : { method: 'sleep', command: DEFAULT_SLEEP_COMMAND };
}

/**
 * The command a sleep-method probe runs on this target (null: no inbound probes). A signal target
 * whose shell cannot run the waiter falls back to the sleep method's own command.
 */
export function sleepCommandOf(inbound: InboundProbe | null): string | null {
  if (inbound === null) return null;
  return inbound.method === 'sleep' ? inbound.command : DEFAULT_SLEEP_COMMAND;
}
