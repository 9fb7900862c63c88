// The HTTP side of `idleprobe serve` (fastify): metrics, blackbox-style /probe, the JSON API, the
// capture upload, lifecycle endpoints, and the web config's TLS and basic auth. Every input has a
// schema; a wrong one is a 400 with a message, a wrong method a 405 with an Allow header.
import { Transform, type Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Daemon } from '../daemon/daemon.ts';
import type { TargetSnapshot } from '../daemon/state.ts';
import type { HeartbeatEntry, HistoryEntry } from '../daemon/history.ts';
import { InputError } from '../cli/errors.ts';
import { CaptureFormatError } from '../capture/index.ts';
import { buildTargetRegistry, type MetricsRenderer } from './metrics.ts';
import { BasicAuthChecker } from './basic-auth.ts';
import { httpsOptions, type WebConfig } from './web-config.ts';
import { renderLanding } from './landing.ts';

/** The capture analyser: reads a pcap/pcapng stream and returns a JSON-able report. */
export type AnalyzeFn = (input: Readable, opts: { port: number }) => Promise<unknown>;

export interface AppDeps {
  daemon: Daemon;
  renderer: MetricsRenderer;
  analyze?: AnalyzeFn;
  webConfig?: WebConfig;
  version?: string;
}

const NAME_PATTERN = '^[A-Za-z0-9_.:@-]{1,128}$';
const CAPTURE_TYPES = ['application/octet-stream', 'application/vnd.tcpdump.pcap', 'application/x-pcapng', 'application/pcap', 'application/x-pcap'];
const WRITE_METHODS = ['POST', 'PUT', 'DELETE', 'PATCH'] as const;
const ALL_METHODS = ['GET', ...WRITE_METHODS] as const;

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Registers a 405 (with Allow) for every method a route does not serve. */
function allowOnly(app: FastifyInstance, url: string, allowed: readonly string[]): void {
  const others = ALL_METHODS.filter((m) => !allowed.includes(m));
  const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ');
  app.route({
    method: others as unknown as ('GET' | 'POST')[],
    url,
    handler: async (_req, reply) => reply.code(405).header('allow', allow).send({ error: `method not allowed; use ${allowed.join(' or ')}` }),
  });
}

/** The fields every stored run has, measurement or heartbeat matrix. */
function runJson(e: HistoryEntry | HeartbeatEntry) {
  return {
    id: e.id,
    status: e.status,
    startedAt: e.startedAt,
    finishedAt: new Date(e.finishedAtMs).toISOString(),
    durationSeconds: e.durationSeconds,
    error: e.error,
    errorKind: e.errorKind,
  };
}

function summarizeEntry(e: HistoryEntry | null) {
  if (!e) return null;
  return {
    ...runJson(e),
    results:
      e.result?.results.map((r) => ({
        direction: r.direction,
        verdict: r.verdict,
        lowerSeconds: r.lowerSeconds,
        upperSeconds: r.upperSeconds,
        estimateSeconds: r.estimateSeconds,
        failureMode: r.failureMode,
        reason: r.reason,
      })) ?? null,
    serverHeartbeatSeconds: e.result?.serverHeartbeatSeconds ?? null,
    recommendedHeartbeatSeconds: e.result?.recommendedHeartbeatSeconds ?? null,
  };
}

function heartbeatEntryJson(e: HeartbeatEntry | null) {
  if (!e) return null;
  return { ...runJson(e), matrix: e.matrix };
}

/** The heartbeat part of a target: settings and state; `full` adds the latest matrices themselves. */
function heartbeatJson(s: TargetSnapshot, full: boolean) {
  const h = s.heartbeat;
  if (!h) return null;
  const brief = (e: HeartbeatEntry | null) =>
    e && { id: e.id, status: e.status, finishedAt: new Date(e.finishedAtMs).toISOString(), highestSurvivingIntervalSeconds: e.matrix?.highestSurvivingIntervalSeconds ?? null, lowestFailingIntervalSeconds: e.matrix?.lowestFailingIntervalSeconds ?? null, error: e.error };
  return {
    intervalsSeconds: h.settings.intervalsSeconds,
    windowSeconds: h.settings.windowSeconds,
    countMax: h.settings.countMax,
    includeNoHeartbeat: h.settings.includeNoHeartbeat,
    schedule: h.settings.schedule,
    nextRunAt: h.nextRunAt ? new Date(h.nextRunAt).toISOString() : null,
    running: h.running ? { since: new Date(h.running.since).toISOString(), reason: h.running.reason } : null,
    queued: h.queued,
    latest: full ? heartbeatEntryJson(h.latestOk) : brief(h.latestOk),
    lastAttempt: full ? heartbeatEntryJson(h.latest) : brief(h.latest),
  };
}

export function targetJson(s: TargetSnapshot) {
  return {
    name: s.name,
    host: s.host,
    port: s.port,
    module: s.module,
    directions: s.directions,
    schedule: s.schedule,
    nextRunAt: s.nextRunAt ? new Date(s.nextRunAt).toISOString() : null,
    running: s.running ? { since: new Date(s.running.since).toISOString(), reason: s.running.reason } : null,
    sessionsOpen: s.sessionsOpen,
    up: s.up,
    counters: s.counters,
    sentinel: s.sentinel ? { ...s.sentinel, since: new Date(s.sentinel.since).toISOString() } : null,
    latest: summarizeEntry(s.latestOk),
    lastAttempt: summarizeEntry(s.latest),
    heartbeat: heartbeatJson(s, false),
  };
}

/** Limits a stream to `max` bytes; past that it fails with a 413. */
function byteLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new HttpError(413, `capture larger than the ${max}-byte upload limit`));
      else cb(null, chunk);
    },
  });
}

function debugText(s: TargetSnapshot, metricsText: string): string {
  const lines: string[] = [`Target ${s.name} (${s.host}:${s.port}, module ${s.module})`];
  const last = s.latest;
  if (!last) lines.push('No measurement has finished yet.');
  else {
    lines.push(`Last run: ${last.status}, started ${last.startedAt}, took ${last.durationSeconds.toFixed(1)} s${last.error ? `: ${last.error}` : ''}`);
  }
  const ok = s.latestOk?.result;
  if (ok) {
    if (s.latestOk !== last) lines.push(`Latest successful run started ${ok.startedAt}:`);
    for (const r of ok.results) {
      lines.push(`  ${r.direction}: ${r.verdict} lower=${r.lowerSeconds ?? '-'} upper=${r.upperSeconds ?? '-'} estimate=${r.estimateSeconds ?? '-'} mode=${r.failureMode ?? '-'}${r.reason ? ` (${r.reason})` : ''}`);
      for (const p of r.probes) lines.push(`    ${p.at} session ${p.sessionId} age ${p.ageSeconds} s → ${p.outcome}`);
    }
  }
  if (s.running) lines.push(`A measurement is running since ${new Date(s.running.since).toISOString()} (${s.running.reason}).`);
  const matrix = s.heartbeat?.latestOk?.matrix;
  if (matrix) {
    lines.push(`Latest heartbeat matrix started ${matrix.startedAt} (window ${matrix.windowSeconds} s, CountMax ${matrix.countMax}):`);
    for (const r of matrix.results) {
      const fate = r.survived ? 'survived' : `died${r.cause ? ` (${r.cause})` : ''}${r.diedAtSeconds !== null ? ` at ${r.diedAtSeconds} s` : ''}`;
      lines.push(`  ${r.intervalSeconds === null ? 'no heartbeat' : `every ${r.intervalSeconds} s`}: ${fate}; heartbeats ${r.heartbeatsAnswered}/${r.heartbeatsSent} answered`);
    }
    for (const c of [...matrix.anomalies, ...(matrix.crossCheck?.contradictions ?? [])]) lines.push(`  !! ${c}`);
  }
  if (s.heartbeat?.running) lines.push(`A heartbeat matrix is running since ${new Date(s.heartbeat.running.since).toISOString()} (${s.heartbeat.running.reason}).`);
  return `Probes of the last run:\n${lines.join('\n')}\n\nMetrics that would have been returned:\n${metricsText}`;
}

/** The 404 for a target this replica does not serve: unknown, or owned by another shard (which one). */
function notServed(daemon: Daemon, name: string): HttpError {
  const owner = daemon.ownerShardOf(name);
  if (owner === null) return new HttpError(404, `target ${JSON.stringify(name)} is not configured`);
  return new HttpError(
    404,
    `target ${JSON.stringify(name)} belongs to shard ${owner}/${daemon.shard.count}; this replica serves shard ${daemon.shard.index}/${daemon.shard.count}`,
  );
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { daemon, renderer, webConfig } = deps;
  const tls = webConfig?.tls ?? null;
  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    return503OnClosing: true,
    ...(tls ? { https: httpsOptions(tls) } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  const auth = new BasicAuthChecker(webConfig?.basicAuthUsers ?? new Map());
  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(webConfig?.headers ?? {})) reply.header(k, v);
    if (tls && (tls.clientAuthType === 'RequireAnyClientCert' || tls.clientAuthType === 'VerifyClientCertIfGiven')) {
      const sock = req.raw.socket as TLSSocket;
      const cert = sock.getPeerCertificate?.();
      const present = !!cert && Object.keys(cert).length > 0;
      if (tls.clientAuthType === 'RequireAnyClientCert' && !present) return reply.code(403).send({ error: 'a client certificate is required' });
      if (tls.clientAuthType === 'VerifyClientCertIfGiven' && present && !sock.authorized) {
        return reply.code(403).send({ error: `client certificate not trusted: ${String(sock.authorizationError)}` });
      }
    }
    if (auth.enabled && !(await auth.check(req.headers.authorization))) {
      return reply.code(401).header('www-authenticate', 'Basic realm="idleprobe"').send({ error: 'unauthorized' });
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: err.message });
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof InputError || err instanceof CaptureFormatError) return reply.code(400).send({ error: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: status === 500 ? `internal error: ${err.message}` : err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));

  // The analyser reads the raw body as a stream; no other route takes a body.
  app.addContentTypeParser(CAPTURE_TYPES, (_req, payload, done) => done(null, payload));

  app.get('/', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(renderLanding(daemon.snapshots(), { version: deps.version ?? '0.1.0', reloadOk: daemon.reloadStatus.successful })),
  );
  allowOnly(app, '/', ['GET']);

  app.get('/metrics', async (req, reply) => {
    const rendered = await renderer.renderBody();
    reply.type(renderer.contentType).header('vary', 'Accept-Encoding');
    // Prometheus always asks for gzip: a 1,000-target body shrinks from ~2 MB to a few hundred KB.
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(await rendered.gzip());
    return reply.send(rendered.body);
  });
  allowOnly(app, '/metrics', ['GET']);

  app.get<{ Querystring: { target: string; module?: string; debug?: boolean } }>(
    '/probe',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['target'],
          properties: {
            target: { type: 'string', pattern: NAME_PATTERN },
            module: { type: 'string', minLength: 1, maxLength: 128 },
            debug: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      const { target, module, debug } = req.query;
      // Only configured targets: this endpoint never opens a session, let alone to an arbitrary host.
      const snap = daemon.snapshot(target);
      if (!snap) throw notServed(daemon, target);
      if (module !== undefined) {
        if (!daemon.config.modules[module]) throw new HttpError(400, `unknown module ${JSON.stringify(module)}`);
        if (module !== snap.module) throw new HttpError(400, `target ${JSON.stringify(target)} is measured with module ${JSON.stringify(snap.module)}, not ${JSON.stringify(module)}`);
      }
      const registry = buildTargetRegistry([snap]);
      const text = await registry.metrics();
      if (debug) return reply.type('text/plain; charset=utf-8').send(debugText(snap, text));
      return reply.type(registry.contentType).send(text);
    },
  );
  allowOnly(app, '/probe', ['GET']);

  app.get('/api/targets', async () => ({ targets: daemon.snapshots().map(targetJson) }));
  allowOnly(app, '/api/targets', ['GET']);

  app.get<{ Params: { name: string }; Querystring: { limit: number; before?: number } }>(
    '/api/targets/:name/history',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } },
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            before: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (req) => {
      const { name } = req.params;
      if (!daemon.hasTarget(name)) throw notServed(daemon, name);
      const entries = daemon.history.list(name, req.query.limit, req.query.before);
      return { target: name, entries };
    },
  );
  allowOnly(app, '/api/targets/:name/history', ['GET']);

  app.post<{ Params: { name: string } }>(
    '/api/measure/:name',
    { schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } } },
    async (req, reply) => {
      const { name } = req.params;
      const outcome = daemon.trigger(name);
      if (outcome === null) throw notServed(daemon, name);
      if (outcome === 'already_running') throw new HttpError(409, `a measurement of ${name} is already running`);
      if (outcome === 'busy') throw new HttpError(409, `a heartbeat matrix of ${name} is running; a measurement never runs beside it (try again when it ends)`);
      return reply.code(202).send({ target: name, status: 'started' });
    },
  );
  allowOnly(app, '/api/measure/:name', ['POST']);

  app.get<{ Params: { name: string } }>(
    '/api/targets/:name/heartbeat',
    { schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } } },
    async (req) => {
      const { name } = req.params;
      const snap = daemon.snapshot(name);
      if (!snap) throw notServed(daemon, name);
      if (!snap.heartbeat) throw new HttpError(404, `target ${JSON.stringify(name)} has no heartbeat matrix configured (add heartbeat: to the target or its module)`);
      return { target: name, ...heartbeatJson(snap, true) };
    },
  );
  allowOnly(app, '/api/targets/:name/heartbeat', ['GET']);

  app.post<{ Params: { name: string } }>(
    '/api/heartbeat/:name',
    { schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } } },
    async (req, reply) => {
      const { name } = req.params;
      const outcome = daemon.triggerHeartbeat(name);
      if (outcome === null) throw notServed(daemon, name);
      if (outcome === 'not_configured') throw new HttpError(404, `target ${JSON.stringify(name)} has no heartbeat matrix configured (add heartbeat: to the target or its module)`);
      if (outcome === 'already_running') throw new HttpError(409, `a heartbeat matrix of ${name} is already running`);
      if (outcome === 'busy') throw new HttpError(409, `a measurement of ${name} is running; a heartbeat matrix never runs beside it (try again when it ends)`);
      return reply.code(202).send({ target: name, status: 'started' });
    },
  );
  allowOnly(app, '/api/heartbeat/:name', ['POST']);

  app.post<{ Querystring: { port: number } }>(
    '/api/analyze',
    {
      schema: {
        querystring: { type: 'object', properties: { port: { type: 'integer', minimum: 1, maximum: 65535, default: 22 } } },
        headers: {
          type: 'object',
          properties: { 'content-type': { type: 'string', enum: CAPTURE_TYPES } },
          required: ['content-type'],
        },
      },
    },
    async (req: FastifyRequest<{ Querystring: { port: number } }>, reply: FastifyReply) => {
      if (!deps.analyze) throw new HttpError(501, 'capture analysis is not available in this build');
      const max = daemon.config.global.maxUploadBytes;
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) throw new HttpError(413, `capture of ${declared} bytes exceeds the ${max}-byte upload limit`);
      const body = req.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') throw new HttpError(400, 'send the capture file as the request body');
      const limited = byteLimit(max);
      let limitError: Error | null = null;
      limited.on('error', (e) => (limitError = e));
      body.on('error', (e) => limited.destroy(e));
      body.pipe(limited);
      try {
        const report = await deps.analyze(limited, { port: req.query.port });
        return reply.send(report);
      } catch (err) {
        if (limitError) throw limitError;
        throw err;
      }
    },
  );
  allowOnly(app, '/api/analyze', ['POST']);

  app.get('/-/healthy', async (_req, reply) => reply.type('text/plain').send('Healthy\n'));
  allowOnly(app, '/-/healthy', ['GET']);
  app.get('/-/ready', async (_req, reply) => {
    if (!daemon.ready) return reply.code(503).type('text/plain').send('Not ready\n');
    return reply.type('text/plain').send('Ready\n');
  });
  allowOnly(app, '/-/ready', ['GET']);

  app.post('/-/reload', async (_req, reply) => {
    const r = await daemon.reload();
    if (!r.ok) return reply.code(500).send({ error: r.error });
    return reply.send({ status: 'reloaded', ...r.summary });
  });
  allowOnly(app, '/-/reload', ['POST']);

  return app;
}
