// `--web.config.file` in the Prometheus exporter-toolkit format, so operators can reuse the file
// they already have for node_exporter/blackbox_exporter: TLS (cert/key, min/max version, client CA
// and client auth type) and basic auth users with bcrypt hashes. Validated like the main config.
import fs from 'node:fs';
import path from 'node:path';
import { createSecureContext, type SecureVersion } from 'node:tls';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { ConfigError, jsonPointerToPath } from '../config-error.ts';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

const webConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tls_server_config: {
      type: 'object',
      additionalProperties: false,
      required: ['cert_file', 'key_file'],
      properties: {
        cert_file: { type: 'string', minLength: 1 },
        key_file: { type: 'string', minLength: 1 },
        client_ca_file: { type: 'string', minLength: 1 },
        client_auth_type: { enum: [...CLIENT_AUTH_TYPES] },
        min_version: { enum: Object.keys(TLS_VERSIONS) },
        max_version: { enum: Object.keys(TLS_VERSIONS) },
        cipher_suites: { type: 'array', items: { type: 'string' } },
        prefer_server_cipher_suites: { type: 'boolean' },
        curve_preferences: { type: 'array', items: { type: 'string' } },
      },
    },
    http_server_config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        http2: { type: 'boolean' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    basic_auth_users: {
      type: ['object', 'null'],
      additionalProperties: { type: 'string', pattern: '^\\$2[abxy]?\\$\\d\\d\\$[./A-Za-z0-9]{53}$' },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(webConfigSchema);

export interface TlsSettings {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  minVersion: SecureVersion;
  maxVersion?: SecureVersion;
  clientAuthType: ClientAuthType;
}

export interface WebConfig {
  tls: TlsSettings | null;
  /** user → bcrypt hash; empty map = no basic auth. */
  basicAuthUsers: Map<string, string>;
  headers: Record<string, string>;
}

/** Reads and validates a web config file; relative paths are resolved against its directory. */
export function loadWebConfig(file: string): WebConfig {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new ConfigError([`cannot read or parse (${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]})`], file);
  }
  return resolveWebConfig(raw, path.dirname(path.resolve(file)), file);
}

export function resolveWebConfig(raw: unknown, baseDir: string, file?: string): WebConfig {
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      const at = jsonPointerToPath(e.instancePath);
      if (e.keyword === 'additionalProperties') {
        const field = (e.params as { additionalProperty: string }).additionalProperty;
        return `${e.instancePath ? `${at}.` : ''}${field}: unknown field`;
      }
      if (e.keyword === 'pattern' && e.instancePath.startsWith('/basic_auth_users/')) return `${at}: must be a bcrypt hash ($2y$...), not a plain password`;
      if (e.keyword === 'required') return `${at}.${(e.params as { missingProperty: string }).missingProperty}: is required`;
      if (e.keyword === 'enum') return `${at}: must be one of ${(e.params as { allowedValues: string[] }).allowedValues.join(', ')}`;
      return `${at}: ${e.message}`;
    });
    throw new ConfigError(problems, file);
  }
  const doc = raw as {
    tls_server_config?: { cert_file: string; key_file: string; client_ca_file?: string; client_auth_type?: ClientAuthType; min_version?: string; max_version?: string };
    http_server_config?: { headers?: Record<string, string> };
    basic_auth_users?: Record<string, string> | null;
  };
  const problems: string[] = [];
  const read = (p: string, at: string): Buffer | undefined => {
    try {
      return fs.readFileSync(path.resolve(baseDir, p));
    } catch (err) {
      problems.push(`${at}: cannot read ${p} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };
  let tls: TlsSettings | null = null;
  const t = doc.tls_server_config;
  if (t) {
    const cert = read(t.cert_file, 'tls_server_config.cert_file');
    const key = read(t.key_file, 'tls_server_config.key_file');
    const ca = t.client_ca_file ? read(t.client_ca_file, 'tls_server_config.client_ca_file') : undefined;
    const clientAuthType = t.client_auth_type ?? (t.client_ca_file ? 'RequireAndVerifyClientCert' : 'NoClientCert');
    if ((clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert') && !t.client_ca_file) {
      problems.push(`tls_server_config.client_ca_file: is required when client_auth_type is ${clientAuthType}`);
    }
    if (cert && key) {
      tls = {
        cert,
        key,
        ...(ca ? { ca } : {}),
        minVersion: TLS_VERSIONS[t.min_version ?? 'TLS12'],
        ...(t.max_version ? { maxVersion: TLS_VERSIONS[t.max_version] } : {}),
        clientAuthType,
      };
    }
  }
  if (tls) {
    // A key that does not match the certificate (or a PEM that does not parse) fails here, at
    // --config.check and before listening, not at the first TLS handshake.
    try {
      createSecureContext(httpsOptions(tls));
    } catch (err) {
      problems.push(`tls_server_config: cert_file and key_file do not load together (${(err as Error).message})`);
    }
  }
  if (problems.length) throw new ConfigError(problems, file);
  return {
    tls,
    basicAuthUsers: new Map(Object.entries(doc.basic_auth_users ?? {})),
    headers: doc.http_server_config?.headers ?? {},
  };
}

/** Node https server options for the TLS settings (client cert checks beyond these: see app.ts). */
export function httpsOptions(tls: TlsSettings): Record<string, unknown> {
  const requestCert = tls.clientAuthType !== 'NoClientCert';
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca ? { ca: tls.ca } : {}),
    minVersion: tls.minVersion,
    ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
    requestCert,
    // Only the strict mode lets the TLS layer reject; the optional modes are checked per request.
    rejectUnauthorized: tls.clientAuthType === 'RequireAndVerifyClientCert',
  };
}
