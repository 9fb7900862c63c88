// Loads the secrets a TargetSpec points to (key file, passphrase, password, agent socket).
// Secrets only ever live in the returned object; messages name the file or variable, never the value.
import { CategorizedError } from '../errors.ts';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { TargetSpec } from './target.ts';
import { parseKnownHosts, type HostKeyPolicy } from './host-keys.ts';

/** A target's configuration cannot be used (missing file, bad key, no credentials). */
export class CredentialError extends CategorizedError {
  constructor(message: string) {
    super(message, 'invalid_config');
    this.name = 'CredentialError';
  }
}

export interface Credentials {
  privateKey?: Buffer;
  passphrase?: string;
  password?: string;
  agent?: string;
  /** For messages: which method is configured, e.g. "key ~/.ssh/id_ed25519". */
  describe: string;
}

function readSecretFile(path: string, what: string): string {
  try {
    // One trailing newline is an artefact of `echo secret > file`, not part of the secret.
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new CredentialError(`cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readSecretEnv(name: string, what: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new CredentialError(`${what} variable ${name} is not set`);
  return v;
}

export function loadCredentials(spec: TargetSpec): Credentials {
  const creds: Credentials = { describe: '' };
  const methods: string[] = [];
  if (spec.privateKeyPath) {
    let key: Buffer;
    try {
      key = readFileSync(spec.privateKeyPath);
    } catch (err) {
      throw new CredentialError(`cannot read private key ${spec.privateKeyPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let passphrase: string | undefined;
    if (spec.passphraseFile) passphrase = readSecretFile(spec.passphraseFile, 'passphrase');
    else if (spec.passphraseEnv) passphrase = readSecretEnv(spec.passphraseEnv, 'passphrase');
    // Parse now so a wrong passphrase is a clear config error, not a confusing auth failure later.
    const parsed = ssh2.utils.parseKey(key, passphrase);
    if (parsed instanceof Error) {
      throw new CredentialError(`cannot use private key ${spec.privateKeyPath}: ${parsed.message}${passphrase === undefined ? ' (encrypted keys need --passphrase-file or a passphrase variable)' : ''}`);
    }
    creds.privateKey = key;
    creds.passphrase = passphrase;
    methods.push(`key ${spec.privateKeyPath}`);
  }
  if (spec.passwordFile) {
    creds.password = readSecretFile(spec.passwordFile, 'password');
    methods.push(`password from ${spec.passwordFile}`);
  } else if (spec.passwordEnv) {
    creds.password = readSecretEnv(spec.passwordEnv, 'password');
    methods.push(`password from $${spec.passwordEnv}`);
  }
  const wantAgent = spec.useAgent === true || (spec.useAgent === undefined && methods.length === 0);
  if (wantAgent) {
    const sock = process.env.SSH_AUTH_SOCK;
    if (sock) {
      creds.agent = sock;
      methods.push('ssh-agent');
    } else if (spec.useAgent === true) {
      throw new CredentialError('agent authentication requested but SSH_AUTH_SOCK is not set');
    }
  }
  if (methods.length === 0) {
    throw new CredentialError(`no credentials for ${spec.name}: give a private key, a password file/variable, or run an ssh-agent`);
  }
  creds.describe = methods.join(', ');
  return creds;
}

/** Builds the host key policy from the spec; at least one source is required. */
export function loadHostKeyPolicy(spec: TargetSpec): HostKeyPolicy {
  const policy: HostKeyPolicy = { host: spec.host, port: spec.port };
  if (spec.hostKeySha256 && spec.hostKeySha256.length > 0) {
    policy.pins = spec.hostKeySha256;
    return policy;
  }
  if (!spec.knownHostsPath) {
    throw new CredentialError(`no host key source for ${spec.name}: give a known_hosts file or a pinned SHA256 fingerprint`);
  }
  let text: string;
  try {
    text = readFileSync(spec.knownHostsPath, 'utf8');
  } catch (err) {
    throw new CredentialError(`cannot read known_hosts file ${spec.knownHostsPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { entries } = parseKnownHosts(text, spec.knownHostsPath);
  policy.knownHosts = entries;
  policy.knownHostsSource = spec.knownHostsPath;
  return policy;
}
