// `idleprobe measure [user@]host[:port]`: finds the idle timeout of the path to one SSH server.
// Thin: parse and validate flags into a TargetSpec + MeasureOptions, call measureTarget, print.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError } from './errors.ts';
import { progressLine } from './progress.ts';
import { DEFAULT_INBOUND_COMMAND, type MeasureOptions, type TargetSpec } from '../probe/target.ts';
import type { Direction, MeasurementResult } from '../search/types.ts';
import { entryMatchesHost, knownHostsName, normaliseFingerprint, parseKnownHosts } from '../probe/host-keys.ts';
import { CredentialError } from '../probe/credentials.ts';
import { MEASURE_DEFAULTS, measureTarget } from '../probe/measure.ts';
import { formatSummary } from '../probe/summary.ts';

export interface ParsedTarget {
  user: string | null;
  host: string;
  port: number;
}

/** `[user@]host[:port]`, with `[v6addr]:port` for IPv6. */
export function parseTargetArg(arg: string): ParsedTarget {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s[\]]+)(?::(\d+))?$/.exec(arg.trim());
  if (!m) throw new UsageError(`target "${arg}" is not [user@]host[:port]`);
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`target "${arg}": port must be 1–65535`);
  return { user: m[1] ?? null, host, port };
}

export function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds, got "${value}"`);
  return n;
}

function parseDirection(value: string): Direction[] {
  if (value === 'both') return ['outbound', 'inbound'];
  if (value === 'outbound' || value === 'inbound') return [value];
  throw new UsageError(`--direction must be outbound, inbound or both, got "${value}"`);
}

function defaultUser(): string {
  return process.env.USER || process.env.LOGNAME || userInfo().username;
}

/** The key OpenSSH would try first when no -i is given, if any exists. */
function defaultIdentity(): string | undefined {
  const dir = path.join(homedir(), '.ssh');
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
}

export interface MeasureFlags {
  identity?: string;
  knownHosts?: string;
  hostKey?: string[];
  passwordFile?: string;
  passphraseFile?: string;
  direction: string;
  min: string;
  max: string;
  sessions: string;
  inboundCommand?: string;
  inbound: boolean;
  json?: boolean;
  connectTimeout?: string;
  inboundMethod?: string;
}

/** Flags → TargetSpec. Exported for tests; throws UsageError naming the flag at fault. */
export function buildTargetSpec(targetArg: string, flags: MeasureFlags, warn: (message: string) => void = () => {}): TargetSpec {
  const t = parseTargetArg(targetArg);
  const user = t.user ?? defaultUser();
  const spec: TargetSpec = {
    name: `${user}@${t.host}:${t.port}`,
    host: t.host,
    port: t.port,
    user,
    directions: parseDirection(flags.direction),
    inboundCommand: flags.inbound === false ? null : (flags.inboundCommand ?? DEFAULT_INBOUND_COMMAND),
  };
  if (flags.inboundCommand !== undefined && flags.inbound === false) throw new UsageError('--inbound-command and --no-inbound contradict each other');
  if (spec.inboundCommand !== null && !spec.inboundCommand.includes('{d}')) {
    throw new UsageError(`--inbound-command must contain {d} (the idle age in seconds), got "${spec.inboundCommand}"`);
  }
  if (spec.inboundCommand === null && spec.directions.length === 1 && spec.directions[0] === 'inbound') {
    throw new UsageError('--direction inbound needs inbound probing, but --no-inbound was given');
  }

  // Host key: exactly one source; never trust on first use.
  if (flags.hostKey && flags.hostKey.length > 0 && flags.knownHosts) throw new UsageError('give either --host-key or --known-hosts, not both');
  if (flags.hostKey && flags.hostKey.length > 0) {
    spec.hostKeySha256 = flags.hostKey.flatMap((k) => k.split(',')).map((k) => {
      try {
        return normaliseFingerprint(k);
      } catch (err) {
        throw new UsageError(`--host-key: ${(err as Error).message}`);
      }
    });
  } else {
    const file = flags.knownHosts ?? path.join(homedir(), '.ssh', 'known_hosts');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(
        flags.knownHosts
          ? `--known-hosts ${file} cannot be read`
          : `no host key to verify ${knownHostsName(t.host, t.port)} against: pass --host-key SHA256:… or --known-hosts FILE (${file} does not exist)`,
      );
    }
    const { entries, problems } = parseKnownHosts(text, file);
    problems.forEach(warn);
    if (!entries.some((e) => entryMatchesHost(e, t.host, t.port))) {
      throw new UsageError(
        `${file} has no entry for ${knownHostsName(t.host, t.port)}: pass --host-key SHA256:… or a --known-hosts file that lists this host (host keys are never accepted on first use)`,
      );
    }
    spec.knownHostsPath = file;
  }

  // Auth: what was asked for; otherwise the agent; otherwise OpenSSH's default key.
  if (flags.identity) spec.privateKeyPath = flags.identity;
  if (flags.passphraseFile) spec.passphraseFile = flags.passphraseFile;
  if (flags.passwordFile) spec.passwordFile = flags.passwordFile;
  if (!flags.identity && !flags.passwordFile) {
    if (process.env.SSH_AUTH_SOCK) spec.useAgent = true;
    else {
      const id = defaultIdentity();
      if (!id) throw new UsageError('no credentials: pass -i KEY or --password-file FILE, or run an ssh-agent');
      spec.privateKeyPath = id;
    }
  } else {
    spec.useAgent = false;
  }
  return spec;
}

export function buildMeasureOptions(flags: MeasureFlags): MeasureOptions {
  const minSeconds = parseSeconds(flags.min, '--min');
  const maxSeconds = parseSeconds(flags.max, '--max');
  if (maxSeconds <= minSeconds) throw new UsageError(`--max (${maxSeconds}) must be greater than --min (${minSeconds})`);
  const sessions = Number(flags.sessions);
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > 64) throw new UsageError(`--sessions must be an integer 1–64, got "${flags.sessions}"`);
  const opts: MeasureOptions = { ...MEASURE_DEFAULTS, minSeconds, maxSeconds, sessions };
  if (flags.connectTimeout !== undefined) opts.connectTimeoutMs = parseSeconds(flags.connectTimeout, '--connect-timeout') * 1000;
  if (flags.inboundMethod !== undefined) {
    if (flags.inboundMethod !== 'signal' && flags.inboundMethod !== 'sleep') throw new UsageError(`--inbound-method must be signal or sleep, got "${flags.inboundMethod}"`);
    opts.inboundMethod = flags.inboundMethod;
  }
  return opts;
}

/** Runs a measurement with the progress line and prints the result; shared with `demo`. */
export async function runAndPrint(spec: TargetSpec, opts: MeasureOptions, json: boolean, banner?: string): Promise<MeasurementResult> {
  const progress = progressLine();
  const abort = new AbortController();
  // Exit 130 like any interrupted command; sessions are closed on the way out.
  const onSignal = () => abort.abort(Object.assign(new Error('interrupted'), { exitCode: 130 }));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (banner && !json) process.stdout.write(banner);
  try {
    const result = await measureTarget(spec, {
      ...opts,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
      onSessionsOpen: (n) => progress.sessions(n),
    });
    progress.done();
    process.stdout.write(json ? JSON.stringify(result, null, 2) + '\n' : formatSummary(result));
    return result;
  } catch (err) {
    progress.done();
    if (err instanceof CredentialError) throw new UsageError(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function command(): Command {
  return new Command('measure')
    .description('Find the idle timeout of the network path to an SSH server (outbound and inbound).')
    .argument('<target>', '[user@]host[:port]')
    .option('-i, --identity <file>', 'private key file')
    .option('--passphrase-file <file>', 'file holding the private key passphrase')
    .option('--password-file <file>', 'file holding the password (password auth)')
    .option('--known-hosts <file>', 'known_hosts file to verify the host key (default ~/.ssh/known_hosts)')
    .addOption(new Option('--host-key <sha256...>', 'pinned host key fingerprint(s), SHA256:…'))
    .option('--direction <dir>', 'outbound, inbound or both', 'both')
    .option('--min <seconds>', 'shortest idle age to probe', String(MEASURE_DEFAULTS.minSeconds))
    .option('--max <seconds>', 'longest idle age to probe', String(MEASURE_DEFAULTS.maxSeconds))
    .option('--sessions <n>', 'concurrent probe sessions (shared by both directions)', String(MEASURE_DEFAULTS.sessions))
    .option('--inbound-command <cmd>', 'command the server runs for inbound probes; {d} = age in seconds', DEFAULT_INBOUND_COMMAND)
    .option('--inbound-method <method>', 'signal (the server speaks when the search decides, told through the control session; falls back to sleep where the shell cannot) or sleep', MEASURE_DEFAULTS.inboundMethod)
    .option('--no-inbound', 'do not run commands on the server (account without a shell): outbound only')
    .option('--connect-timeout <seconds>', 'give up connecting/logging in after this long', '10')
    .option('--json', 'print one JSON document (the measurement) on stdout')
    .action(async (targetArg: string, flags: MeasureFlags, cmd: Command) => {
      // Commander fills the default; only an explicit --inbound-command conflicts with --no-inbound.
      const explicitCommand = cmd.getOptionValueSource('inboundCommand') === 'cli' ? flags.inboundCommand : undefined;
      const spec = buildTargetSpec(targetArg, { ...flags, inboundCommand: explicitCommand }, (m) => process.stderr.write(`idleprobe: warning: ${m}\n`));
      const opts = buildMeasureOptions(flags);
      await runAndPrint(spec, opts, flags.json === true);
    });
}
