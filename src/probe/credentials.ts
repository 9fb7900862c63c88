// Loads the secrets a EndpointSpec points to (key file, passphrase, password, agent socket).
// Secrets only ever live in the returned object; messages name the file or variable, never the value.
import { CategorizedError } from '../errors.ts';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { EndpointSpec } from './target.ts';
import { parseKnownHosts, type HostKeyPolicy, type KnownHostEntry } from './host-keys.ts';

/** A target's configuration cannot be used (missing file, bad key, no credentials). */
export class CredentialError extends CategorizedError {
  constructor(message: string) {
    super(message, 'invalid_config');
    this.name = 'CredentialError';
  }
}

export interface PrivateKeyCredential {
  path: string;
  key: Buffer;
  passphrase?: string;
}

export interface Credentials {
  /** Keys to offer, in order (the explicit key, or every usable ssh_config IdentityFile). */
  privateKeys: PrivateKeyCredential[];
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

export function loadCredentials(spec: EndpointSpec, warn: (message: string) => void = () => {}): Credentials {
  const creds: Credentials = { privateKeys: [], describe: '' };
  const methods: string[] = [];
  const wantAgentFirst = spec.useAgent === true && (spec.identityFiles?.length ?? 0) > 0;
  if (wantAgentFirst) useAgent(spec, creds, methods);
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
    creds.privateKeys.push({ path: spec.privateKeyPath, key, passphrase });
    methods.push(`key ${spec.privateKeyPath}`);
  }
  for (const file of spec.identityFiles ?? []) {
    // Like ssh: IdentityFile entries that do not exist are skipped; keys we cannot decrypt without
    // a prompt are skipped with a note (ssh would ask for the passphrase; we never prompt).
    let key: Buffer;
    try {
      key = readFileSync(file);
    } catch {
      continue;
    }
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      warn(`skipping IdentityFile ${file}: ${parsed.message} (give it with -i and --passphrase-file to use it)`);
      continue;
    }
    creds.privateKeys.push({ path: file, key });
    methods.push(`key ${file}`);
  }
  if (spec.passwordFile) {
    creds.password = readSecretFile(spec.passwordFile, 'password');
    methods.push(`password from ${spec.passwordFile}`);
  } else if (spec.passwordEnv) {
    creds.password = readSecretEnv(spec.passwordEnv, 'password');
    methods.push(`password from $${spec.passwordEnv}`);
  }
  const wantAgent = spec.useAgent === true || (spec.useAgent === undefined && methods.length === 0);
  if (wantAgent && !wantAgentFirst) useAgent(spec, creds, methods);
  if (methods.length === 0) {
    throw new CredentialError(`no credentials for ${spec.name}: give a private key, a password file/variable, or run an ssh-agent`);
  }
  creds.describe = methods.join(', ');
  return creds;
}

function useAgent(spec: EndpointSpec, creds: Credentials, methods: string[]): void {
  const sock = process.env.SSH_AUTH_SOCK;
  if (sock) {
    creds.agent = sock;
    methods.push('ssh-agent');
  } else if (spec.useAgent === true && !(spec.identityFiles?.length)) {
    throw new CredentialError('agent authentication requested but SSH_AUTH_SOCK is not set');
  }
}

/**
 * ssh2's authHandler list: the agent first, then every key in order, then password — OpenSSH's
 * order (IdentitiesOnly is applied earlier, by not asking for the agent).
 */
export function authMethods(creds: Credentials, username: string): (string | { type: 'publickey'; username: string; key: Buffer; passphrase?: string })[] {
  const list: (string | { type: 'publickey'; username: string; key: Buffer; passphrase?: string })[] = [];
  if (creds.agent) list.push('agent');
  for (const k of creds.privateKeys) list.push({ type: 'publickey', username, key: k.key, ...(k.passphrase !== undefined ? { passphrase: k.passphrase } : {}) });
  if (creds.password !== undefined) list.push('password', 'keyboard-interactive');
  return list;
}

/** known_hosts files of a spec, in order: the configured one, then those from ssh_config. */
export function knownHostsFilesOf(spec: EndpointSpec): string[] {
  return [...(spec.knownHostsPath ? [spec.knownHostsPath] : []), ...(spec.knownHostsPaths ?? [])];
}

/**
 * The name and port OpenSSH looks a host up under: HostKeyAlias replaces "[host]:port" by the
 * bare alias (OpenSSH appends no port to an alias).
 */
export function hostKeyLookupOf(spec: Pick<EndpointSpec, 'host' | 'port' | 'hostKeyAlias'>): { host: string; port: number } {
  return spec.hostKeyAlias ? { host: spec.hostKeyAlias, port: 22 } : { host: spec.host, port: spec.port };
}

/**
 * The host key policy of a spec: its pins, or the entries of its known_hosts files. Like ssh, files
 * that do not exist are skipped (a configured --known-hosts/known_hosts_file was checked when the
 * endpoint was resolved); with none at all every key is unknown, which is decided — and reported
 * with the offered fingerprint — when the server shows its key, after connecting.
 */
export function loadHostKeyPolicy(spec: EndpointSpec): HostKeyPolicy {
  const policy: HostKeyPolicy = { ...hostKeyLookupOf(spec) };
  if (spec.hostKeySha256 && spec.hostKeySha256.length > 0) {
    policy.pins = spec.hostKeySha256;
    return policy;
  }
  const files = knownHostsFilesOf(spec);
  if (files.length === 0) {
    throw new CredentialError(`no host key source for ${spec.name}: give a known_hosts file or a pinned SHA256 fingerprint`);
  }
  const entries: KnownHostEntry[] = [];
  const read: string[] = [];
  const missing: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // The configured file must be readable; ssh_config's list names files that may not exist (ssh skips them).
      if (file === spec.knownHostsPath) {
        throw new CredentialError(`cannot read known_hosts file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      missing.push(file);
      continue;
    }
    entries.push(...parseKnownHosts(text, file).entries.map((e) => ({ ...e, source: file })));
    read.push(file);
  }
  policy.knownHosts = entries;
  policy.knownHostsSource = read.join(', ');
  if (missing.length) policy.knownHostsMissing = missing;
  return policy;
}
