// What the HTTP plugins share: an error that carries its status, the 405-with-Allow helper, and
// the pattern a target name must match in a URL.
import type { FastifyInstance } from 'fastify';
import type { ReadModel } from '../read-model/read-model.ts';
import { categoryOf, type ErrorCategory } from '../errors.ts';

export const NAME_PATTERN = '^[A-Za-z0-9_.:@-]{1,128}$';

/** Methods a route answers 405 for when it does not serve them (OPTIONS and TRACE included). */
const ALL_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'] as const;

/**
 * The one place an error's category becomes an HTTP status. Bad requests and unusable input are
 * the client's (400); a target that cannot be reached is not the request's fault, so it stays a 500.
 */
const STATUS_FOR: Partial<Record<ErrorCategory, number>> = { usage: 400, invalid_config: 400, bad_input: 400 };

export function httpStatusFor(err: unknown): number | undefined {
  const category = categoryOf(err);
  return category ? STATUS_FOR[category] : undefined;
}

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
    method: others,
    url,
    handler: async (_req, reply) => reply.code(405).header('allow', allow).send({ error: `method not allowed; use ${allowed.join(' or ')}` }),
  });
}

/** The 404 for a target this replica does not serve: unknown, or owned by another shard (which one). */
export function notServed(model: Pick<ReadModel, 'ownerShardOf' | 'shard'>, name: string): HttpError {
  const owner = model.ownerShardOf(name);
  if (owner === null) return new HttpError(404, `target ${JSON.stringify(name)} is not configured`);
  return new HttpError(
    404,
    `target ${JSON.stringify(name)} belongs to shard ${owner}/${model.shard.count}; this replica serves shard ${model.shard.index}/${model.shard.count}`,
  );
}
