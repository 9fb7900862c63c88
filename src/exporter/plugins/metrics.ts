// Read-only views for Prometheus: /metrics and blackbox-style /probe (the pages for people: ./pages.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { ReadModel } from '../../read-model/read-model.ts';
import { buildTargetRegistry, type MetricsRenderer } from '../metrics.ts';
import { debugText } from '../json.ts';
import { HttpError, NAME_PATTERN, allowOnly, notServed } from '../http-error.ts';

export interface MetricsOptions {
  model: ReadModel;
  renderer: MetricsRenderer;
}

const metrics: FastifyPluginAsync<MetricsOptions> = async (app, { model, renderer }) => {
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
      const snap = model.target(target);
      if (!snap) throw notServed(model, target);
      if (module !== undefined) {
        if (!model.hasModule(module)) throw new HttpError(400, `unknown module ${JSON.stringify(module)}`);
        if (module !== snap.module) throw new HttpError(400, `target ${JSON.stringify(target)} is measured with module ${JSON.stringify(snap.module)}, not ${JSON.stringify(module)}`);
      }
      const registry = buildTargetRegistry(model.kinds(), [snap]);
      const text = await registry.metrics();
      if (debug) return reply.type('text/plain; charset=utf-8').send(debugText(snap, text));
      return reply.type(registry.contentType).send(text);
    },
  );
  allowOnly(app, '/probe', ['GET']);
};

export default metrics;
