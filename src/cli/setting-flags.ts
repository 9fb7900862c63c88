// Flags that set a search or probe setting: checked against the setting's own range in its schema
// (src/*/settings-schema.ts), so the CLI, the daemon's YAML and the search agree on what is valid.
// The inbound flags become the prober's one inbound value (src/probe/inbound.ts).
import { InboundSettingsError, inboundProbeOf, type InboundProbe } from '../probe/inbound.ts';
import { rangeOf, searchSettingsProperties } from '../search/settings-schema.ts';
import { parseDurationMs } from '../duration.ts';
import { UsageError } from './errors.ts';

/** An integer flag within its setting's schema range. */
export function parseIntegerSetting(value: string, flag: string, schema: { readonly minimum?: number; readonly maximum?: number }): number {
  const { min, max } = rangeOf(schema);
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer ${min}–${max}, got "${value}"`);
  return n;
}

/** `--sessions N`: the search's `sessions` setting. */
export function parseSessions(value: string): number {
  return parseIntegerSetting(value, '--sessions', searchSettingsProperties.sessions);
}

/** `--silent-deadline-floor D` (a duration): the setting `silent_deadline_floor_ms`, within its schema range. */
export function parseSilentDeadlineFloor(value: string): number {
  const { min, max } = rangeOf(searchSettingsProperties.silent_deadline_floor_ms);
  return parseDurationMs(value, '--silent-deadline-floor', { minMs: min, maxMs: max });
}

export interface InboundFlags {
  /** --inbound-method (no default: see inboundProbeOf). */
  inboundMethod?: string;
  /** --inbound-command (no default: the sleep method's own). */
  inboundCommand?: string;
  /** false with --no-inbound. */
  inbound?: boolean;
}

/** The inbound flags as the prober's one value; contradictions are usage errors naming the flags. */
export function inboundFromFlags(flags: InboundFlags): InboundProbe | null {
  const method = flags.inboundMethod;
  if (method !== undefined && method !== 'signal' && method !== 'sleep') throw new UsageError(`--inbound-method must be signal or sleep, got "${method}"`);
  if (flags.inbound === false) {
    if (flags.inboundCommand !== undefined) throw new UsageError('--inbound-command and --no-inbound contradict each other');
    if (method !== undefined) throw new UsageError('--inbound-method and --no-inbound contradict each other');
    return null;
  }
  try {
    return inboundProbeOf(method, flags.inboundCommand);
  } catch (err) {
    if (!(err instanceof InboundSettingsError)) throw err;
    if (err.field === 'inbound_method') throw new UsageError(`--inbound-method signal and --inbound-command contradict each other: ${err.message}`);
    throw new UsageError(`--inbound-command ${err.message}, got "${flags.inboundCommand}"`);
  }
}
