// `--web.config.file` in the Prometheus exporter-toolkit format, so operators can reuse the file
// they already have for node_exporter/blackbox_exporter: TLS (cert/key, min/max version, client CA
// and client auth type) and basic auth users with bcrypt hashes. Validated like the main config.
import fs from 'node:fs';
import path from 'node:path';
import { createSecureContext, getCiphers, type SecureVersion } from 'node:tls';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { ConfigError, jsonPointerToPath } from '../config-error.ts';
import { parseDurationMs } from '../duration.ts';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

/**
 * exporter-toolkit's cipher_suites are Go's names (IANA); Node takes OpenSSL's. The list is Go's
 * crypto/tls CipherSuites() and InsecureCipherSuites() that OpenSSL also has. As in Go, the TLS 1.3
 * suites named here restrict TLS 1.3 too (Go ignores them there: they are always on; OpenSSL honours them).
 */
export const CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** exporter-toolkit's curve_preferences (Go's CurveID names) → OpenSSL group names. */
export const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };


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
        cipher_suites: { type: 'array', minItems: 1, items: { enum: Object.keys(CIPHER_SUITES) } },
        prefer_server_cipher_suites: { type: 'boolean' },
        curve_preferences: { type: 'array', minItems: 1, items: { enum: Object.keys(CURVES) } },
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
    rate_limit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        interval: { type: 'string' },
        burst: { type: 'integer', minimum: 0 },
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
  /** OpenSSL cipher list from cipher_suites (null: Node's defaults). */
  ciphers: string | null;
  /** OpenSSL group list from curve_preferences (null: Node's defaults). */
  ecdhCurve: string | null;
  /** prefer_server_cipher_suites (exporter-toolkit's default: true). */
  honorCipherOrder: boolean;
}

/** rate_limit: one token every `intervalMs`, up to `burst` at once — per client (see plugins/bounds.ts). */
export interface RateLimit {
  intervalMs: number;
  burst: number;
}

export interface WebConfig {
  tls: TlsSettings | null;
  /** user → bcrypt hash; empty map = no basic auth. */
  basicAuthUsers: Map<string, string>;
  headers: Record<string, string>;
  /** null when rate_limit is absent or its interval is 0 (exporter-toolkit: off). */
  rateLimit?: RateLimit | null;
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
      if (e.keyword === 'enum') {
        const allowed = (e.params as { allowedValues: string[] }).allowedValues;
        if (/^\/tls_server_config\/(cipher_suites|curve_preferences)\//.test(e.instancePath)) {
          return `${at}: not supported here (Node.js/OpenSSL); one of ${allowed.join(', ')}`;
        }
        return `${at}: must be one of ${allowed.join(', ')}`;
      }
      return `${at}: ${e.message}`;
    });
    throw new ConfigError(problems, file);
  }
  const doc = raw as {
    tls_server_config?: {
      cert_file: string;
      key_file: string;
      client_ca_file?: string;
      client_auth_type?: ClientAuthType;
      min_version?: string;
      max_version?: string;
      cipher_suites?: string[];
      curve_preferences?: string[];
      prefer_server_cipher_suites?: boolean;
    };
    http_server_config?: { headers?: Record<string, string>; http2?: boolean };
    rate_limit?: { interval?: string; burst?: number };
    basic_auth_users?: Record<string, string> | null;
  };
  const problems: string[] = [];
  // exporter-toolkit serves HTTP/2 over TLS unless http2: false; this server speaks HTTP/1.1 only
  // (its connection, pipelining and slow-client bounds are HTTP/1.1's), so asking for HTTP/2 is refused.
  if (doc.http_server_config?.http2 === true) {
    problems.push('http_server_config.http2: HTTP/2 is not supported (idleprobe serves HTTP/1.1 only); remove the field or set it to false');
  }
  let rateLimit: RateLimit | null = null;
  const rl = doc.rate_limit;
  if (rl) {
    let intervalMs: number | null = 0;
    try {
      // The one duration grammar (src/duration.ts); exporter-toolkit's "1s", "500ms", "1m30s" and "0" (off) read the same.
      if (rl.interval !== undefined) intervalMs = parseDurationMs(rl.interval, 'rate_limit.interval', { minMs: 0 });
    } catch (err) {
      problems.push((err as Error).message);
      intervalMs = null;
    }
    if (intervalMs !== null && intervalMs > 0) {
      if (!rl.burst) problems.push('rate_limit.burst: must be at least 1 when rate_limit.interval is set (with 0 every request would be refused)');
      else rateLimit = { intervalMs, burst: rl.burst };
    }
  }
  const t0 = doc.tls_server_config;
  if (t0?.cipher_suites) {
    const known = new Set(getCiphers().map((c) => c.toUpperCase()));
    t0.cipher_suites.forEach((name, i) => {
      if (!known.has(CIPHER_SUITES[name].toUpperCase())) problems.push(`tls_server_config.cipher_suites[${i}]: ${name} is not available in this Node.js's OpenSSL`);
    });
  }
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
        ciphers: t.cipher_suites ? t.cipher_suites.map((c) => CIPHER_SUITES[c]).join(':') : null,
        ecdhCurve: t.curve_preferences ? t.curve_preferences.map((c) => CURVES[c]).join(':') : null,
        honorCipherOrder: t.prefer_server_cipher_suites ?? true,
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
    rateLimit,
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
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
    ...(tls.ecdhCurve ? { ecdhCurve: tls.ecdhCurve } : {}),
    honorCipherOrder: tls.honorCipherOrder,
    requestCert,
    // Only the strict mode lets the TLS layer reject; the optional modes are checked per request.
    rejectUnauthorized: tls.clientAuthType === 'RequireAndVerifyClientCert',
  };
}
