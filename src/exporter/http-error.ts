// What the HTTP plugins share: an error that carries its status, the 405-with-Allow helper, and
// the pattern a target name must match in a URL.
import type { FastifyInstance } from 'fastify';
import type { Daemon } from '../daemon/daemon.ts';

export const NAME_PATTERN = '^[A-Za-z0-9_.:@-]{1,128}$';

/** Methods a route answers 405 for when it does not serve them (OPTIONS and TRACE included). */
const ALL_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'] as const;

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Registers a 405 (with Allow) for every method a route does not serve. */
export function allowOnly(app: FastifyInstance, url: string, allowed: readonly string[]): void {
  const others = ALL_METHODS.filter((m) => !allowed.includes(m));
  const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ');
  app.route({
    method: others as unknown as ('GET' | 'POST')[],
    url,
    handler: async (_req, reply) => reply.code(405).header('allow', allow).send({ error: `method not allowed; use ${allowed.join(' or ')}` }),
  });
}

/** The 404 for a target this replica does not serve: unknown, or owned by another shard (which one). */
export function notServed(daemon: Pick<Daemon, 'ownerShardOf' | 'shard'>, name: string): HttpError {
  const owner = daemon.ownerShardOf(name);
  if (owner === null) return new HttpError(404, `target ${JSON.stringify(name)} is not configured`);
  return new HttpError(
    404,
    `target ${JSON.stringify(name)} belongs to shard ${owner}/${daemon.shard.count}; this replica serves shard ${daemon.shard.index}/${daemon.shard.count}`,
  );
}
