// Request-level bounds, as fastify hooks around the auth plugin:
//   - rateLimit (before auth): exporter-toolkit's `rate_limit` from the web config, read per client
//     (IPv4 address or IPv6 /64; exporter-toolkit has one bucket for everyone, which lets one client
//     starve Prometheus): beyond it 429 with Retry-After, before any bcrypt work;
//   - workGate (after auth): the routes that render or query per request — everything but the
//     scrapes (/metrics, /probe) and /-/* — at most `max` in progress at once and `perSecond` started
//     per second, beyond it 503 with Retry-After (work-gate.ts). Routes added later (pages) are
//     counted without opting in.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import { clientKey } from '../client-key.ts';
import { TokenBuckets, type BucketSettings } from '../token-bucket.ts';
import type { WorkGate } from '../work-gate.ts';
import type { RateLimitedLog } from '../../log.ts';
import type { HttpCounters } from '../http-counters.ts';
import type { Clock } from '../../search/types.ts';

export interface RateLimitOptions {
  rateLimit: BucketSettings | null;
  now: () => number;
  failures: RateLimitedLog;
  counters: HttpCounters;
}

const rateLimit: FastifyPluginAsync<RateLimitOptions> = async (app, { rateLimit: settings, now, failures, counters }) => {
  if (!settings) return;
  const buckets = new TokenBuckets(settings, now);
  app.addHook('onRequest', async (req, reply) => {
    const key = clientKey(req.ip);
    if (buckets.take(key)) return;
    counters.requestsRefused.rate_limit++;
    failures.warn('rate-limit', `HTTP requests from ${key} over the web config's rate_limit; answered 429`);
    // Closing makes a client that ignores Retry-After reconnect, at --web.client-connection-rate at most.
    return reply.code(429).header('connection', 'close').header('retry-after', String(buckets.retryAfterSeconds(key))).send({ error: 'too many requests (rate_limit); retry later' });
  });
};

export const rateLimitPlugin = fp(rateLimit, { name: 'idleprobe-rate-limit', fastify: '5.x' });

/**
 * Routes outside the work gate: the scrapes (/metrics, cached; /probe, one target's few series, which
 * a blackbox-style Prometheus job requests once per target and interval — 1,000 targets every 15 s is
 * 67 a second), the health/lifecycle routes, and POST /api/analyze (its own gate).
 */
export function ungated(url: string | undefined, method: string): boolean {
  if (url === undefined) return true;
  return url === '/metrics' || url === '/probe' || url.startsWith('/-/') || (url === '/api/analyze' && method === 'POST');
}

export interface WorkGateOptions {
  gate: WorkGate;
  failures: RateLimitedLog;
  counters: HttpCounters;
  clock: Clock;
}

/**
 * A refused request is answered after this delay: one connection handles one request at a time
 * (connection-guard.ts), so a client that ignores Retry-After gets at most 4 refusals a second per
 * connection instead of thousands (measured: a 16-client flood made ~4,300 503s a second, 40 % of a
 * core and +120 MB of heap). A legitimate client only learns of the 503 a quarter second later.
 */
export const REFUSAL_DELAY_MS = 250;

const workGate: FastifyPluginAsync<WorkGateOptions> = async (app, { gate, failures, counters, clock }) => {
  app.addHook('onRequest', async (req, reply) => {
    if (ungated(req.routeOptions.url, req.method)) return;
    if (gate.enter(reply.raw)) return;
    counters.requestsRefused.busy++;
    await clock.sleep(REFUSAL_DELAY_MS);
    failures.warn('busy', `HTTP: API/page requests over --web.max-concurrent-requests or --web.requests-per-second; answered 503 (from ${req.ip})`);
    // The connection stays open: a 503 costs ~40 µs, a reconnect more (measured: closing here raised the
    // daemon's RSS under a 48-client flood from 222 to 325 MB through connection churn, for no CPU saved).
    return reply.code(503).header('retry-after', '1').send({ error: 'busy: too many API/page requests at once or this second; retry later' });
  });
};

export const workGatePlugin = fp(workGate, { name: 'idleprobe-work-gate', fastify: '5.x', dependencies: ['idleprobe-auth'] });
