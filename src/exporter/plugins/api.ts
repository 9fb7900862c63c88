// The JSON API: targets, their history and heartbeat matrices (read-only, always on), and the
// admin routes that make the daemon spend work — POST /api/measure, /api/heartbeat, /api/analyze —
// which answer only with --web.enable-admin-api (as Prometheus' admin API). A capture upload is
// bounded in bytes, in time (the server's timeouts), in memory (the live-flow cap) and in number
// (the analysis gate: 429 beyond it).
import { Transform, type Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Daemon } from '../../daemon/daemon.ts';
import { JOB_KINDS, type JobKind } from '../../daemon/job.ts';
import type { AnalysisReport } from '../../capture/index.ts';
import { heartbeatJson, locateJson, targetJson } from '../json.ts';
import { HttpError, NAME_PATTERN, allowOnly, notServed } from '../http-error.ts';
import type { AnalysisGate } from '../analysis-gate.ts';
import { VersionedResponse } from '../response-cache.ts';
import { UPLOAD_RATE_WINDOW_MS } from '../limits.ts';
import type { Clock } from '../../search/types.ts';

/** The capture analyser: reads a pcap/pcapng stream and returns the report. */
export type AnalyzeFn = (input: Readable, opts: { port: number; maxLiveFlows: number }) => Promise<AnalysisReport>;

export interface ApiOptions {
  daemon: Daemon;
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
const notConfigured = (kind: JobKind, name: string) =>
  `target ${JSON.stringify(name)} has no ${JOB_KINDS[kind].label} configured${JOB_KINDS[kind].configField ? ` (add ${JOB_KINDS[kind].configField}: to the target or its module)` : ''}`;

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
  const { daemon, gate } = opts;
  const requireAdmin = () => {
    if (!opts.enableAdminApi) throw new HttpError(403, 'the admin API is not enabled (start serve with --web.enable-admin-api)');
  };

  // The analyser reads the raw body as a stream; no other route takes a body.
  app.addContentTypeParser(CAPTURE_TYPES, (_req, payload, done) => done(null, payload));

  // Rendered once per daemon change, shared by every request (see response-cache.ts).
  const targetsBody = new VersionedResponse(() => JSON.stringify({ targets: daemon.snapshots().map(targetJson) }), () => opts.clock.now());
  app.get('/api/targets', async (_req, reply) => reply.type('application/json; charset=utf-8').send(await targetsBody.body(daemon.version)));
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
      if (!daemon.hasTarget(name)) throw notServed(daemon, name);
      const entries = daemon.history.list(name, req.query.limit, req.query.before);
      return { target: name, entries };
    },
  );
  allowOnly(app, '/api/targets/:name/history', ['GET']);

  app.get<{ Params: { name: string } }>('/api/targets/:name/heartbeat', { schema: { params: NAME_PARAMS } }, async (req) => {
    const { name } = req.params;
    const snap = daemon.snapshot(name);
    if (!snap) throw notServed(daemon, name);
    if (!snap.heartbeat) throw new HttpError(404, notConfigured('heartbeat', name));
    return { target: name, ...heartbeatJson(snap, true) };
  });
  allowOnly(app, '/api/targets/:name/heartbeat', ['GET']);

  app.get<{ Params: { name: string } }>('/api/targets/:name/locate', { schema: { params: NAME_PARAMS } }, async (req) => {
    const { name } = req.params;
    const snap = daemon.snapshot(name);
    if (!snap) throw notServed(daemon, name);
    if (!snap.locate) throw new HttpError(404, notConfigured('locate', name));
    return { target: name, ...locateJson(snap) };
  });
  allowOnly(app, '/api/targets/:name/locate', ['GET']);

  // One trigger route per job kind, all from JOB_KINDS: POST /api/measure/:name, /api/heartbeat/:name, …
  for (const [kind, k] of Object.entries(JOB_KINDS) as [JobKind, (typeof JOB_KINDS)[JobKind]][]) {
    const url = `/api/${k.route}/:name`;
    app.post<{ Params: { name: string } }>(url, { schema: { params: NAME_PARAMS } }, async (req, reply) => {
      requireAdmin();
      const { name } = req.params;
      const outcome = daemon.trigger(name, kind);
      if (outcome === null) throw notServed(daemon, name);
      if (outcome === 'not_configured') throw new HttpError(404, notConfigured(kind, name));
      if (outcome === 'already_running') throw new HttpError(409, `a ${k.label} of ${name} is already running`);
      if (outcome === 'busy') {
        const other = daemon.runningKind(name);
        throw new HttpError(409, `a ${other ? JOB_KINDS[other].label : 'job'} of ${name} is running; a ${k.label} never runs beside it (try again when it ends)`);
      }
      return reply.code(202).send({ target: name, status: 'started' });
    });
    allowOnly(app, url, ['POST']);
  }

  app.post<{ Querystring: { port: number } }>(
    '/api/analyze',
    {
      // The admin check runs before the body is parsed or validated: a disabled route reads nothing.
      onRequest: async () => requireAdmin(),
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
      const analyze = opts.analyze;
      if (!analyze) throw new HttpError(501, 'capture analysis is not available in this build');
      const max = daemon.config.global.maxUploadBytes;
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) throw new HttpError(413, `capture of ${declared} bytes exceeds the ${max}-byte upload limit`);
      const body = req.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') throw new HttpError(400, 'send the capture file as the request body');
      const limited = byteLimit(max);
      let limitError: Error | null = null;
      limited.on('error', (e) => (limitError = e));
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
          return analyze(limited, { port: req.query.port, maxLiveFlows: opts.maxLiveFlows });
        });
        if (report === null) {
          // Not read: close the connection after the reply rather than drain an upload we refuse.
          reply.header('connection', 'close');
          throw new HttpError(429, `${gate.limit} capture analysis already running (the limit); retry later`);
        }
        return reply.send(report);
      } catch (err) {
        if (limitError) throw limitError;
        throw err;
      }
    },
  );
  allowOnly(app, '/api/analyze', ['POST']);
};

export default api;
