// Health, readiness and reload. POST /-/reload changes what the daemon does, so (as in Prometheus)
// it answers only with --web.enable-lifecycle; SIGHUP reloads either way. A failed reload's details
// (file and key paths) go to the log, not into the HTTP body.
import type { FastifyPluginAsync } from 'fastify';
import type { ReadModel } from '../../read-model/read-model.ts';
import { HttpError, allowOnly } from '../http-error.ts';

export interface LifecycleOptions {
  model: Pick<ReadModel, 'ready' | 'reload'>;
  enableLifecycle: boolean;
}

const lifecycle: FastifyPluginAsync<LifecycleOptions> = async (app, { model, enableLifecycle }) => {
  app.get('/-/healthy', async (_req, reply) => reply.type('text/plain').send('Healthy\n'));
  allowOnly(app, '/-/healthy', ['GET']);
  app.get('/-/ready', async (_req, reply) => {
    if (!model.ready) return reply.code(503).type('text/plain').send('Not ready\n');
    return reply.type('text/plain').send('Ready\n');
  });
  allowOnly(app, '/-/ready', ['GET']);

  app.post('/-/reload', async (_req, reply) => {
    if (!enableLifecycle) throw new HttpError(403, 'the lifecycle API is not enabled (start serve with --web.enable-lifecycle, or send SIGHUP)');
    const r = await model.reload();
    if (!r.ok) return reply.code(500).send({ error: 'config reload failed; the running config stays (the daemon log and `idleprobe serve --config.check` name the problems)' });
    return reply.send({ status: 'reloaded', ...r.summary });
  });
  allowOnly(app, '/-/reload', ['POST']);
};

export default lifecycle;
