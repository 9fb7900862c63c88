// The JSON API: targets, their measurement history and each job kind's detail (read-only, always
// on), and the admin routes that make the daemon spend work — POST /api/<kind route>/:name (measure,
// heartbeat, locate), /api/analyze — which answer only with --web.enable-admin-api (as Prometheus'
// admin API). The kind routes are made from the read model's kinds: a new kind needs no change here. A capture upload is
// bounded in bytes, in time (the server's timeouts), in memory (the live-flow cap) and in number
// (the analysis gate: 429 beyond it).
import { Transform, type Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { KindInfo, ReadModel } from '../../read-model/read-model.ts';
import { MEASUREMENT } from '../../read-model/kinds.ts';
import type { AnalysisReport } from '../../capture/index.ts';
import { resolveScope, type ConnectionScope } from '../../capture/connection-scope.ts';
import { TargetsJson } from '../targets-json.ts';
import { HttpError, NAME_PATTERN, allowOnly, notServed } from '../http-error.ts';
import type { AnalysisGate } from '../analysis-gate.ts';
import { VersionedResponse } from '../response-cache.ts';
import { publicJson } from '../public-text.ts';
import { UPLOAD_RATE_WINDOW_MS } from '../limits.ts';
import type { Clock } from '../../search/types.ts';

/** The capture analyser: reads a pcap/pcapng stream and returns the report. */
export type AnalyzeFn = (input: Readable, opts: { scope: ConnectionScope; maxLiveFlows: number }) => Promise<AnalysisReport>;

export interface ApiOptions {
  model: ReadModel;
  analyze?: AnalyzeFn;
  gate: AnalysisGate;
  maxLiveFlows: number;
  /** An upload slower than this over a window of UPLOAD_RATE_WINDOW_MS is cut (408). */
  minUploadBytesPerSecond: number;
  enableAdminApi: boolean;
  clock: Clock;
}

export const CAPTURE_TYPES = ['application/octet-stream', 'application/vnd.tcpdump.pcap', 'application/x-pcapng', 'application/pcap', 'application/x-pcap'];
const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } as const;
/** The 404 of a kind the target has not configured. */
const notConfigured = (kind: KindInfo, name: string) =>
  `target ${JSON.stringify(name)} has no ${kind.label} configured${kind.configField ? ` (add ${kind.configField}: to the target or its module)` : ''}`;

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

/**
 * Fails the stream with a 408 when fewer than `bytesPerSecond` × window bytes arrived in a window:
 * a trickling upload must not hold the analysis slot until the request timeout (5 min).
 */
function minimumRate(clock: Clock, bytesPerSecond: number, windowMs: number): Transform {
  let inWindow = 0;
  const stop = new AbortController();
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      inWindow += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      stop.abort();
      cb();
    },
  });
  t.once('close', () => stop.abort());
  const need = (bytesPerSecond * windowMs) / 1000;
  void (async () => {
    while (!stop.signal.aborted) {
      try {
        await clock.sleep(windowMs, stop.signal);
      } catch {
        return;
      }
      if (inWindow < need) {
        t.destroy(new HttpError(408, `upload slower than ${bytesPerSecond} bytes/s (${inWindow} bytes in the last ${windowMs / 1000} s); send it faster or raise --analyze.min-upload-rate`));
        return;
      }
      inWindow = 0;
    }
  })();
  return t;
}

const api: FastifyPluginAsync<ApiOptions> = async (app, opts) => {
  const { model, gate } = opts;
  const kinds = model.kinds();
  const requireAdmin = () => {
    if (!opts.enableAdminApi) throw new HttpError(403, 'the admin API is not enabled (start serve with --web.enable-admin-api)');
  };

  // The analyser reads the raw body as a stream; no other route takes a body.
  app.addContentTypeParser(CAPTURE_TYPES, (_req, payload, done) => done(null, payload));

  // Rendered once per change (and at most once a second), shared by every request (see response-cache.ts);
  // each rendering re-encodes only the targets that changed (targets-json.ts).
  const targets = new TargetsJson();
  const targetsBody = new VersionedResponse(() => targets.render(model.targets()), () => opts.clock.now());
  app.get('/api/targets', async (_req, reply) => reply.type('application/json; charset=utf-8').send(await targetsBody.body(model.version)));
  allowOnly(app, '/api/targets', ['GET']);

  app.get<{ Params: { name: string }; Querystring: { limit: number; before?: number } }>(
    '/api/targets/:name/history',
    {
      schema: {
        params: NAME_PARAMS,
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
      if (!model.target(name)) throw notServed(model, name);
      const entries = model.history(MEASUREMENT, name, { limit: req.query.limit, before: req.query.before });
      return publicJson({ target: name, entries });
    },
  );
  allowOnly(app, '/api/targets/:name/history', ['GET']);

  // GET /api/targets/:name/<kind> for each kind with a detail view (heartbeat, locate, …).
  for (const k of kinds.filter((kind) => kind.detailRoute)) {
    const url = `/api/targets/:name/${k.kind}`;
    app.get<{ Params: { name: string } }>(url, { schema: { params: NAME_PARAMS } }, async (req) => {
      const { name } = req.params;
      const snap = model.target(name);
      if (!snap) throw notServed(model, name);
      const detail = snap.jobs.find((job) => job.kind === k.kind)?.detailJson() ?? null;
      if (!detail) throw new HttpError(404, notConfigured(k, name));
      return publicJson({ target: name, ...detail });
    });
    allowOnly(app, url, ['GET']);
  }

  // One trigger route per job kind: POST /api/measure/:name, /api/heartbeat/:name, /api/locate/:name, …
  for (const k of kinds) {
    const url = `/api/${k.route}/:name`;
    app.post<{ Params: { name: string } }>(url, { schema: { params: NAME_PARAMS } }, async (req, reply) => {
      requireAdmin();
      const { name } = req.params;
      const outcome = model.trigger(name, k.kind);
      if (outcome === null) throw notServed(model, name);
      if (outcome === 'not_configured') throw new HttpError(404, notConfigured(k, name));
      if (outcome === 'already_running') throw new HttpError(409, `a ${k.label} of ${name} is already running`);
      if (outcome === 'busy') {
        const other = kinds.find((kind) => kind.kind === model.runningKind(name));
        throw new HttpError(409, `a ${other ? other.label : 'job'} of ${name} is running; a ${k.label} never runs beside it (try again when it ends)`);
      }
      return reply.code(202).send({ target: name, status: 'started' });
    });
    allowOnly(app, url, ['POST']);
  }

  // Which connections: ?scope=ssh|all|PORT (default ssh, as the CLI), or the ?port=N shorthand.
  type AnalyzeQuery = { scope?: string; port?: number };
  app.post<{ Querystring: AnalyzeQuery }>(
    '/api/analyze',
    {
      // The admin check runs before the body is parsed or validated: a disabled route reads nothing.
      onRequest: async () => requireAdmin(),
      schema: {
        querystring: { type: 'object', properties: { scope: { type: 'string', maxLength: 16 }, port: { type: 'integer', minimum: 0, maximum: 65535 } } },
        headers: {
          type: 'object',
          properties: { 'content-type': { type: 'string', enum: CAPTURE_TYPES } },
          required: ['content-type'],
        },
      },
    },
    async (req: FastifyRequest<{ Querystring: AnalyzeQuery }>, reply: FastifyReply) => {
      const analyze = opts.analyze;
      if (!analyze) throw new HttpError(501, 'capture analysis is not available in this build');
      const scope = resolveScope(req.query.scope, req.query.port, { scope: 'scope', port: 'port' });
      const max = model.maxUploadBytes();
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) throw new HttpError(413, `capture of ${declared} bytes exceeds the ${max}-byte upload limit`);
      const body = req.body as Readable | undefined;
      if (!body || typeof (body).pipe !== 'function') throw new HttpError(400, 'send the capture file as the request body');
      const limited = byteLimit(max);
      const limit: { error?: Error } = {}; // a holder: a `let` set in the listener would be narrowed to null below
      limited.on('error', (e) => (limit.error = e));
      body.on('error', (e) => limited.destroy(e));
      try {
        const report = await gate.run(() => {
          const paced = minimumRate(opts.clock, opts.minUploadBytesPerSecond, UPLOAD_RATE_WINDOW_MS);
          paced.on('error', (e) => {
            // The rest of the body is not read: the connection closes after the 408.
            reply.header('connection', 'close');
            limited.destroy(e);
          });
          body.pipe(paced).pipe(limited);
          return analyze(limited, { scope, maxLiveFlows: opts.maxLiveFlows });
        });
        if (report === null) {
          // Not read: close the connection after the reply rather than drain an upload we refuse.
          reply.header('connection', 'close');
          throw new HttpError(429, `${gate.limit} capture analysis already running (the limit); retry later`);
        }
        return reply.send(report);
      } catch (err) {
        if (limit.error) throw limit.error;
        throw err;
      }
    },
  );
  allowOnly(app, '/api/analyze', ['POST']);
};

export default api;
