// Resolves a target the way `ssh HOST` would: OpenSSH's own `ssh -G [-F FILE] HOST` prints the
// effective configuration (Host/Match blocks, Include, %-tokens, defaults), so we never parse
// ssh_config ourselves. Used by resolveEndpoint (endpoint.ts: every connecting command and daemon
// targets with `ssh_config_host`) and `advise --check-local`. Comparing against `ssh -G -F /dev/null HOST` tells
// which values came from a config file and which are OpenSSH's defaults (shown with -v).
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseConfigDump, type ConfigDump } from './openssh-dump.ts';

const SSH_G_TIMEOUT_MS = 10_000;

/** `ssh` could not be run, or refused the host/config. Exit code 2 (a configuration problem). */
export class SshConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string, readonly sshMissing = false) {
    super(message);
    this.name = 'SshConfigError';
  }
}

export interface SshGQuery {
  host: string;
  /** `-F FILE`; default: OpenSSH's own (~/.ssh/config, then /etc/ssh/ssh_config). */
  configFile?: string;
  /** Command-line values passed on as `-l`/`-p`, so Match blocks see what ssh would see. */
  user?: string;
  port?: number;
  /** The `ssh` binary (tests point this at a missing one). */
  sshBinary?: string;
}

/** Runs `ssh -G` and returns its dump. Throws SshConfigError (sshMissing when not installed). */
export function sshG(q: SshGQuery): ConfigDump {
  if (!q.host || q.host.startsWith('-')) throw new SshConfigError(`"${q.host}" is not a host name`);
  const args = ['-G', ...(q.configFile ? ['-F', q.configFile] : []), ...(q.user ? ['-l', q.user] : []), ...(q.port ? ['-p', String(q.port)] : []), '--', q.host];
  const bin = q.sshBinary ?? 'ssh';
  try {
    const out = execFileSync(bin, args, {
      timeout: SSH_G_TIMEOUT_MS,
      maxBuffer: 1 << 20,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    return parseConfigDump(out);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { status?: number | null; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new SshConfigError(`cannot run \`${bin}\` (the OpenSSH client, Debian package openssh-client) to read ssh_config`, true);
    }
    const why = typeof e.status === 'number' ? `exit ${e.status}` : (e.code ?? e.message);
    throw new SshConfigError(`\`${bin} ${args.join(' ')}\` failed (${why}): ${sshConfigComplaint(String(e.stderr ?? ''))}`);
  }
}

/**
 * What ssh said about a config file, without its words: "FILE line N: …" messages quote the line
 * ("Bad configuration option: <first word>"), and an ssh_config_file pointed at a secret would have
 * it printed in our logs. Only file and line numbers are kept, and messages known to quote nothing.
 */
export function sshConfigComplaint(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const out: string[] = [];
  let hidden = 0;
  for (const line of lines) {
    const at = /^(.+?) line (\d+): /.exec(line);
    if (at) out.push(`${at[1]} line ${at[2]} is not valid ssh_config`);
    else if (/^.+: terminating, \d+ bad configuration options?$/.test(line)) continue;
    else if (/^Can't open user config file .+: [A-Za-z ]+$/.test(line) || /^Bad owner or permissions on \S+$/.test(line)) out.push(line);
    else hidden++;
  }
  if (out.length === 0) return hidden ? `ssh's message is not shown (it may quote the file); run \`ssh -G\` yourself to see it` : 'no message';
  return out.join('; ') + (lines.some((l) => /^(.+?) line (\d+): /.test(l)) ? " (ssh's own words are not shown: they may quote the file; run `ssh -G` yourself to see them)" : '');
}

export type ValueOrigin = 'command line' | 'ssh_config' | 'OpenSSH default';

/** What we take from the effective configuration. Paths are absolute (~ expanded). */
export interface ResolvedSshTarget {
  /** What the user typed (the Host pattern matched against). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Every IdentityFile, in order (OpenSSH's defaults when the config names none); may not exist. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** UserKnownHostsFile then GlobalKnownHostsFile entries, in order; may not exist. */
  knownHostsFiles: string[];
  hostKeyAlias: string | null;
  connectTimeoutSeconds: number | null;
  /** Raw ProxyJump value ("user@jump:port,next"), null when none. */
  proxyJump: string | null;
  proxyCommand: string | null;
  /** "ask", "true" (yes), "false" (no), "accept-new": we always verify, whatever it says. */
  strictHostKeyChecking: string;
  /** Where each value came from, keyed by ssh -G keyword (only when asked for). */
  origins: Map<string, ValueOrigin> | null;
}

const KEYWORDS = ['hostname', 'port', 'user', 'identityfile', 'identitiesonly', 'userknownhostsfile', 'globalknownhostsfile', 'hostkeyalias', 'connecttimeout', 'proxyjump', 'stricthostkeychecking'] as const;

/** `~` as ssh expands it in these paths (we use $HOME, which is the login home in any normal session). */
export function expandTilde(p: string, home = homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}

function one(dump: ConfigDump, key: string): string | null {
  return dump.get(key)?.[0] ?? null;
}

function words(dump: ConfigDump, key: string): string[] {
  return (dump.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '' && w !== 'none');
}

/** Effective configuration → the fields the prober uses. Pure. */
export function targetFromDump(alias: string, dump: ConfigDump, source: string): Omit<ResolvedSshTarget, 'origins'> {
  const port = Number(one(dump, 'port') ?? '22');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SshConfigError(`${source}: port "${one(dump, 'port')}" is not 1–65535`);
  const timeout = one(dump, 'connecttimeout');
  const jump = one(dump, 'proxyjump');
  const proxyCommand = one(dump, 'proxycommand');
  return {
    alias,
    hostName: one(dump, 'hostname') ?? alias,
    port,
    user: one(dump, 'user') ?? '',
    identityFiles: (dump.get('identityfile') ?? []).map((f) => expandTilde(f)),
    identitiesOnly: one(dump, 'identitiesonly') === 'yes',
    knownHostsFiles: [...words(dump, 'userknownhostsfile'), ...words(dump, 'globalknownhostsfile')].map((f) => expandTilde(f)),
    hostKeyAlias: one(dump, 'hostkeyalias'),
    connectTimeoutSeconds: timeout && /^\d+$/.test(timeout) && Number(timeout) > 0 ? Number(timeout) : null,
    proxyJump: jump && jump !== 'none' ? jump : null,
    proxyCommand: proxyCommand && proxyCommand !== 'none' ? proxyCommand : null,
    strictHostKeyChecking: one(dump, 'stricthostkeychecking') ?? 'ask',
  };
}

/**
 * `ssh -G` for one host, optionally with the origin of every value we use: a value that differs
 * from `ssh -G -F /dev/null` (no config file at all) came from ssh_config.
 */
export function resolveSshTarget(q: SshGQuery & { withOrigins?: boolean }): ResolvedSshTarget {
  const source = `ssh -G${q.configFile ? ` -F ${q.configFile}` : ''} ${q.host}`;
  const dump = sshG(q);
  const resolved = targetFromDump(q.host, dump, source);
  if (!q.withOrigins) return { ...resolved, origins: null };
  const bare = sshG({ ...q, configFile: '/dev/null' });
  const origins = new Map<string, ValueOrigin>();
  for (const k of KEYWORDS) {
    const same = JSON.stringify(dump.get(k) ?? []) === JSON.stringify(bare.get(k) ?? []);
    origins.set(k, same ? 'OpenSSH default' : 'ssh_config');
  }
  if (q.user) origins.set('user', 'command line');
  if (q.port) origins.set('port', 'command line');
  return { ...resolved, origins };
}
