// What the prober needs to know about one SSH endpoint. Shared by the CLI (`measure`, `heartbeat`,
// `advise`) and the daemon's config loader. Secrets are referenced by file or env name only, so a
// TargetSpec can be logged or shown by the API without leaking them.
import type { Direction, PriorResult, SearchProgress } from '../search/types.ts';
import type { MeasureSettings } from './settings-schema.ts';

export interface TargetSpec {
  /** Stable name: metric label and history key (defaults to user@host:port on the CLI). */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Path of a private key file (OpenSSH or PEM). */
  privateKeyPath?: string;
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
  /** Directions to measure. */
  directions: Direction[];
  /**
   * Command the server runs for an inbound probe; `{d}` is replaced by the age in seconds.
   * null disables inbound probing (account without a shell).
   */
  inboundCommand: string | null;
}

export const DEFAULT_INBOUND_COMMAND = 'sleep {d}; echo idleprobe';

/** `measureTarget`'s settings (defaults and meanings in ./settings-schema.ts) and the per-run parts. */
export type MeasureOptions = Mutable<MeasureSettings> & {
  /** Seconds between control-session heartbeats (default: min(5, minSeconds/2)). */
  controlHeartbeatSeconds?: number;
  prior?: { outbound?: PriorResult; inbound?: PriorResult };
  signal?: AbortSignal;
  onProgress?: (p: SearchProgress) => void;
  /** Called when the number of open sessions changes (daemon gauge). */
  onSessionsOpen?: (open: number) => void;
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
