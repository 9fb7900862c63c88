// What the prober needs to know about one SSH endpoint. Shared by the CLI (`measure`, `heartbeat`,
// `advise`) and the daemon's config loader. Secrets are referenced by file or env name only, so a
// TargetSpec can be logged or shown by the API without leaking them.
import { isIPv6 } from 'node:net';
import { CategorizedError } from '../errors.ts';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Direction, FirstHopEvidence, MeasurementResult, PriorResult, SearchProgress } from '../search/types.ts';
import type { InboundProbe } from './inbound.ts';
import type { MeasureSettings } from './settings-schema.ts';

export interface TargetSpec {
  /** Stable name: metric label and history key (defaults to user@host:port on the CLI). */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Path of a private key file (OpenSSH or PEM). */
  privateKeyPath?: string;
  /**
   * More keys to try after privateKeyPath, in order (ssh_config IdentityFile). Files that do not
   * exist are skipped, as ssh does.
   */
  identityFiles?: string[];
  /** Passphrase of the key, from a file or an env variable (never inline). */
  passphraseFile?: string;
  passphraseEnv?: string;
  /** Password auth, from a file or an env variable (never inline). */
  passwordFile?: string;
  passwordEnv?: string;
  /** Use the SSH agent at $SSH_AUTH_SOCK when no key/password is given. */
  useAgent?: boolean;
  /** Host key verification: a known_hosts file, or pinned SHA256 fingerprints ("SHA256:base64"). One is required. */
  knownHostsPath?: string;
  hostKeySha256?: string[];
  /** More known_hosts files (ssh_config UserKnownHostsFile, GlobalKnownHostsFile); missing ones are skipped. */
  knownHostsPaths?: string[];
  /** ssh_config HostKeyAlias: the name looked up in known_hosts instead of [host]:port. */
  hostKeyAlias?: string;
  /** ProxyJump hops, outermost first: the probe's TCP connection goes to the first one. */
  jumpHosts?: JumpHost[];
  /** Directions to measure. */
  directions: Direction[];
  /** How inbound probes make the server speak (./inbound.ts); null: no inbound probes (an account without a shell). */
  inbound: InboundProbe | null;
}

/** How to log in to one SSH endpoint (a target, or a ProxyJump hop on the way to it). */
export type EndpointSpec = Pick<
  TargetSpec,
  'name' | 'host' | 'port' | 'user' | 'privateKeyPath' | 'identityFiles' | 'passphraseFile' | 'passphraseEnv' | 'passwordFile' | 'passwordEnv' | 'useAgent' | 'knownHostsPath' | 'knownHostsPaths' | 'hostKeySha256' | 'hostKeyAlias'
>;
export type JumpHost = EndpointSpec;

/**
 * `measureTarget`'s settings as the CLI flags or the daemon's YAML give them (defaults, ranges and
 * meanings in ./settings-schema.ts; passed on to the search unchanged) and the per-run parts.
 */
export type MeasureOptions = Mutable<MeasureSettings> & {
  /**
   * The process's connect pacer (the daemon's, shared by every run; the CLI's, shared with the
   * ProxyJump leg): every connect of this measurement waits for it. Default: one of its own.
   */
  connectPacer?: ConnectPacer;
  /** Seconds between control-session heartbeats (default: min(5, minSeconds/2)). */
  controlHeartbeatSeconds?: number;
  prior?: { outbound?: PriorResult; inbound?: PriorResult };
  signal?: AbortSignal;
  onProgress?: (p: SearchProgress) => void;
  /** Called when the number of open sessions changes (daemon gauge). */
  onSessionsOpen?: (open: number) => void;
  /** Called with the result as soon as it is known, before the remote clean-up (which measureTarget still awaits). */
  onResult?: (result: MeasurementResult) => void;
  /** Through a jump host: what the first jump host said during each probe (`measure -J`, src/cli/jump-leg.ts); inbound ones too when inbound is measured. */
  onFirstHopEvidence?: (evidence: FirstHopEvidence) => void;
  /** ...and why inbound probes could not be witnessed. */
  onInboundUnwitnessed?: (why: string) => void;
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A host as OpenSSH writes it next to a port: IPv6 literals in brackets. */
export function bracketHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `user@host:port`, `user@[v6addr]:port` — the form the CLI accepts back as a target. */
export function formatEndpoint(user: string, host: string, port: number): string {
  return `${user}@${bracketHost(host)}:${port}`;
}

/** A TARGET, ProxyJump hop or -J value that is not `[user@]host[:port]` (exit 2). */
export class EndpointSyntaxError extends CategorizedError {
  constructor(message: string) {
    super(message, 'usage');
    this.name = 'EndpointSyntaxError';
  }
}

export interface EndpointArg {
  user: string | null;
  host: string;
  /** null when the text names no port (ssh_config or 22 decides). */
  port: number | null;
}

/**
 * `[user@]host[:port]`, `[user@][addr]:port` — and, as ssh reads `user@addr`, an address with
 * several colons and no brackets is an IPv6 address without a port (`fd00:54::2`): a port after an
 * IPv6 address needs the brackets. Throws EndpointSyntaxError naming `what` and what is wrong.
 */
export function parseEndpoint(arg: string, what = 'target'): EndpointArg {
  const text = arg.trim();
  const bad = (why: string) => new EndpointSyntaxError(`${what} "${arg}" ${why}`);
  const m = /^(?:([^@\s]+)@)?([^@\s]+)$/.exec(text);
  if (!m) throw bad('is not [user@]host[:port]');
  const user = m[1] ?? null;
  const rest = m[2];
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (rest.includes(']:') && portText === '') throw bad('has no port after the colon');
  } else if (rest.includes('[') || rest.includes(']')) {
    throw bad('is not [user@]host[:port] (brackets go around the whole address: user@[addr]:port)');
  } else if ((rest.match(/:/g) ?? []).length >= 2) {
    if (!isIPv6(rest)) throw bad('is not an IPv6 address, nor host:port; an IPv6 address with a port is written user@[addr]:port');
    host = rest;
  } else {
    [host, portText] = rest.split(':') as [string, string | undefined];
  }
  if (host === '') throw bad('has no host');
  if (portText === undefined) return { user, host, port: null };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw bad(`has a bad port "${portText}" (must be 1–65535)`);
  return { user, host, port };
}
