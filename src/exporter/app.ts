// The HTTP side of `idleprobe serve` (fastify), assembled from one plugin per concern: auth (TLS
// client certificates, basic auth), metrics (/metrics, /probe), pages (/, /targets/:name), api (JSON API and the opt-in
// admin routes) and lifecycle (/-/healthy, /-/ready, opt-in /-/reload). Every input has a schema; a
// wrong one is a 400 with a message, a wrong method a 405 with an Allow header. The server itself
// bounds connections and the time a request may take (src/exporter/limits.ts).
import { VERSION } from '../version.ts';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ReadModel } from '../read-model/read-model.ts';
import { RateLimitedLog, silentLogger, type Logger } from '../log.ts';
import { realClock } from '../search/clock.ts';
import type { MetricsRenderer } from './metrics.ts';
import { httpsOptions, type WebConfig } from './web-config.ts';
import { HttpError, httpStatusFor, notServed } from './http-error.ts';
import { AnalysisGate } from './analysis-gate.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.ts';
import authPlugin from './plugins/auth.ts';
import { rateLimitPlugin, workGatePlugin } from './plugins/bounds.ts';
import { ConnectionGuard } from './connection-guard.ts';
import { WorkGate } from './work-gate.ts';
import { HttpCounters } from './http-counters.ts';
import metricsPlugin from './plugins/metrics.ts';
import apiPlugin, { type AnalyzeFn } from './plugins/api.ts';
import lifecyclePlugin from './plugins/lifecycle.ts';
import pagesPlugin from './plugins/pages.ts';
import { PageRenderer } from './pages.ts';

export type { AnalyzeFn } from './plugins/api.ts';
export { targetJson } from './json.ts';

export interface AppDeps {
  /** What the exporter shows and triggers (src/app/read-model.ts wires the daemon to it). */
  model: ReadModel;
  renderer: MetricsRenderer;
  analyze?: AnalyzeFn;
  webConfig?: WebConfig;
  version?: string;
  /** POST /-/reload (`--web.enable-lifecycle`); off by default. */
  enableLifecycle?: boolean;
  /** POST /api/<kind route>/:name (measure, heartbeat, locate) and /api/analyze (`--web.enable-admin-api`); off by default. */
  enableAdminApi?: boolean;
  limits?: Partial<HttpLimits>;
  /** Shared with the metrics renderer so /metrics can export the upload counters. */
  gate?: AnalysisGate;
  /** Shared with the metrics renderer: what the HTTP bounds turned away. */
  httpCounters?: HttpCounters;
  log?: Logger;
  /** The status pages' renderer and caches (the benchmark passes its own to read its counters). */
  pages?: PageRenderer;
}

/**
 * A server factory applying the limits: fastify has no option for headersTimeout, the TLS handshake
 * timeout or maxRequestsPerSocket, and the connection caps with eviction are ours (connection-guard.ts).
 */
function serverFactory(limits: HttpLimits, webConfig: WebConfig | undefined, guard: ConnectionGuard) {
  return (handler: http.RequestListener) => {
    const common = {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: Math.min(5_000, limits.idleTimeoutMs),
      // Node checks the two timeouts above every 30 s by default: a slow-loris would outlive them.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 2)),
    };
    // Pipelined requests of one connection run one after the other (connection-guard.ts).
    const dispatch: http.RequestListener = (req, res) => guard.dispatch(req, res, () => handler(req, res));
    const tls = webConfig?.tls ?? null;
    // Node's default TLS handshake timeout is 120 s: as in Go's net/http, the header timeout bounds it.
    const server = tls
      ? https.createServer({ ...httpsOptions(tls), handshakeTimeout: limits.headersTimeoutMs, ...common }, dispatch)
      : http.createServer(common, dispatch);
    server.on('connection', (socket: net.Socket) => guard.admit(socket));
    if (tls) server.on('secureConnection', (socket: TLSSocket) => guard.secured(socket));
    // No byte either way for this long (a stalled upload, an idle keep-alive) closes the socket.
    server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
    server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
    return server;
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { model, renderer, webConfig } = deps;
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...deps.limits };
  const log = deps.log ?? silentLogger;
  const failures = new RateLimitedLog(log, () => realClock.now());
  const counters = deps.httpCounters ?? new HttpCounters();
  const guard = new ConnectionGuard(
    limits,
    (what, client) => {
      if (what === 'evicted') counters.connectionsEvicted++;
      else counters.connectionsRefused[what === 'too fast' ? 'connection_rate' : 'all_busy']++;
      failures.warn(
        `connections-${what}`,
        what === 'evicted'
          ? `HTTP: connection cap reached; closed an opening or idle connection of ${client} to admit a new one`
          : what === 'too fast'
            ? `HTTP: ${client} opens connections faster than --web.client-connection-rate; closed at accept`
            : `HTTP: every connection slot has a request in progress; refused a new connection from ${client}`,
      );
    },
    () => realClock.now(),
  );
  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    return503OnClosing: true,
    serverFactory: serverFactory(limits, webConfig, guard),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err.validation) return reply.code(400).send({ error: err.message });
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    const categorized = httpStatusFor(err);
    if (categorized !== undefined) return reply.code(categorized).send({ error: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status < 500) return reply.code(status).send({ error: err.message });
    // The details (which may name files) go to the log, not to whoever sent the request.
    failures.warn(`500 ${req.routeOptions.url ?? ''}`, `HTTP ${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}: internal error: ${err.message}`);
    return reply.code(500).send({ error: 'internal error (logged by the daemon)' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));

  // Order matters: the rate limit before auth (no bcrypt for a client over its rate), the work gate after it.
  await app.register(rateLimitPlugin, { rateLimit: webConfig?.rateLimit ?? null, now: () => realClock.now(), failures, counters });
  await app.register(authPlugin, {
    webConfig,
    bcrypt: { maxConcurrent: limits.maxConcurrentBcrypt, maxQueue: limits.maxBcryptQueue },
    failures,
    onAuthenticated: (socket) => guard.authenticated(socket),
    counters,
  });
  await app.register(workGatePlugin, { gate: new WorkGate(limits.maxConcurrentRequests, limits.requestsPerSecond, () => realClock.now()), failures, counters, clock: realClock });
  await app.register(metricsPlugin, { model, renderer });
  await app.register(apiPlugin, {
    model,
    analyze: deps.analyze,
    gate: deps.gate ?? new AnalysisGate(limits.maxConcurrentAnalyses),
    maxLiveFlows: limits.maxLiveFlows,
    minUploadBytesPerSecond: limits.minUploadBytesPerSecond,
    enableAdminApi: deps.enableAdminApi ?? false,
    clock: realClock,
  });
  await app.register(lifecyclePlugin, { model, enableLifecycle: deps.enableLifecycle ?? false });
  await app.register(pagesPlugin, { pages: deps.pages ?? new PageRenderer(model, { version: deps.version ?? VERSION }), notServed: (name) => notServed(model, name) });
  return app;
}
