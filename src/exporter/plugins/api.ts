// The JSON API: targets, their history and heartbeat matrices (read-only, always on), and the
// admin routes that make the daemon spend work — POST /api/measure, /api/heartbeat, /api/analyze —
// which answer only with --web.enable-admin-api (as Prometheus' admin API). A capture upload is
// bounded in bytes, in time (the server's timeouts), in memory (the live-flow cap) and in number
// (the analysis gate: 429 beyond it).
import { Transform, type Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Daemon } from '../../daemon/daemon.ts';
import type { AnalysisReport } from '../../capture/index.ts';
import { heartbeatJson, targetJson } from '../json.ts';
import { HttpError, NAME_PATTERN, allowOnly, notServed } from '../http-error.ts';
import type { AnalysisGate } from '../analysis-gate.ts';

/** The capture analyser: reads a pcap/pcapng stream and returns the report. */
export type AnalyzeFn = (input: Readable, opts: { port: number; maxLiveFlows: number }) => Promise<AnalysisReport>;

export interface ApiOptions {
  daemon: Daemon;
  analyze?: AnalyzeFn;
  gate: AnalysisGate;
  maxLiveFlows: number;
  enableAdminApi: boolean;
}

export const CAPTURE_TYPES = ['application/octet-stream', 'application/vnd.tcpdump.pcap', 'application/x-pcapng', 'application/pcap', 'application/x-pcap'];
const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } as const;
const NO_HEARTBEAT = (name: string) => `target ${JSON.stringify(name)} has no heartbeat matrix configured (add heartbeat: to the target or its module)`;

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

const api: FastifyPluginAsync<ApiOptions> = async (app, opts) => {
  const { daemon, gate } = opts;
  const requireAdmin = () => {
    if (!opts.enableAdminApi) throw new HttpError(403, 'the admin API is not enabled (start serve with --web.enable-admin-api)');
  };

  // The analyser reads the raw body as a stream; no other route takes a body.
  app.addContentTypeParser(CAPTURE_TYPES, (_req, payload, done) => done(null, payload));

  app.get('/api/targets', async () => ({ targets: daemon.snapshots().map(targetJson) }));
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
    if (!snap.heartbeat) throw new HttpError(404, NO_HEARTBEAT(name));
    return { target: name, ...heartbeatJson(snap, true) };
  });
  allowOnly(app, '/api/targets/:name/heartbeat', ['GET']);

  app.post<{ Params: { name: string } }>('/api/measure/:name', { schema: { params: NAME_PARAMS } }, async (req, reply) => {
    requireAdmin();
    const { name } = req.params;
    const outcome = daemon.trigger(name);
    if (outcome === null) throw notServed(daemon, name);
    if (outcome === 'already_running') throw new HttpError(409, `a measurement of ${name} is already running`);
    if (outcome === 'busy') throw new HttpError(409, `a heartbeat matrix of ${name} is running; a measurement never runs beside it (try again when it ends)`);
    return reply.code(202).send({ target: name, status: 'started' });
  });
  allowOnly(app, '/api/measure/:name', ['POST']);

  app.post<{ Params: { name: string } }>('/api/heartbeat/:name', { schema: { params: NAME_PARAMS } }, async (req, reply) => {
    requireAdmin();
    const { name } = req.params;
    const outcome = daemon.triggerHeartbeat(name);
    if (outcome === null) throw notServed(daemon, name);
    if (outcome === 'not_configured') throw new HttpError(404, NO_HEARTBEAT(name));
    if (outcome === 'already_running') throw new HttpError(409, `a heartbeat matrix of ${name} is already running`);
    if (outcome === 'busy') throw new HttpError(409, `a measurement of ${name} is running; a heartbeat matrix never runs beside it (try again when it ends)`);
    return reply.code(202).send({ target: name, status: 'started' });
  });
  allowOnly(app, '/api/heartbeat/:name', ['POST']);

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
          body.pipe(limited);
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
