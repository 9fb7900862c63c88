// The composition root of `idleprobe serve`: the only module that knows both the daemon core and
// the HTTP exporter. Order matters and is the point of this file:
//   1. signal handlers (a SIGHUP during start-up is queued, not fatal),
//   2. the history: locked, checked, opened — a bad one stops here, before any port is open,
//   3. the daemon and the HTTP app, then listen,
//   4. only once the port is ours do schedules start (a daemon that cannot serve must not measure).
// SIGHUP reloads; SIGTERM/SIGINT shut down within 5 s (sessions closed, HTTP closed, history
// flushed), with a hard exit as the backstop if something hangs.
import type { FastifyInstance } from 'fastify';
import { Daemon } from '../daemon/daemon.ts';
import type { DaemonConfig } from '../daemon/config.ts';
import type { Logger } from '../log.ts';
import type { HeartbeatFn, MeasureFn, OpenerFactory } from '../daemon/runner.ts';
import type { LocateFn } from '../daemon/jobs/locate.ts';
import { parseListenAddress } from '../daemon/listen-address.ts';
import { openHistoryFile } from '../daemon/history-file.ts';
import { DurableHistoryStore } from '../daemon/durable-history.ts';
import type { Shard } from '../daemon/shard.ts';
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';
import { buildApp, type AnalyzeFn } from '../exporter/app.ts';
import { AnalysisGate } from '../exporter/analysis-gate.ts';
import { HttpCounters } from '../exporter/http-counters.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../exporter/limits.ts';
import { MetricsRenderer } from '../exporter/metrics.ts';
import type { WebConfig } from '../exporter/web-config.ts';
import { ServeSignals } from './signals.ts';
import { daemonReadModel } from './read-model.ts';

export const SHUTDOWN_DEADLINE_MS = 5000;

export interface ServiceOptions {
  config: DaemonConfig;
  /** The file reload re-reads; without one (`--demo`) reload re-applies the config in memory. */
  configFile?: string;
  historyFile: string;
  /** `--history.reset-corrupt`: move a corrupt history aside and start a fresh one. */
  resetCorruptHistory?: boolean;
  listenAddress: string;
  webConfig?: WebConfig;
  enableLifecycle?: boolean;
  enableAdminApi?: boolean;
  limits?: Partial<HttpLimits>;
  measure: MeasureFn;
  heartbeat?: HeartbeatFn;
  locate?: LocateFn;
  openerFactory?: OpenerFactory;
  analyze?: AnalyzeFn;
  log: Logger;
  clock?: Clock;
  /** `--shard i/n`; default all targets. */
  shard?: Shard;
}

export interface Service {
  daemon: Daemon;
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:9923 */
  url: string;
  shutdown(): Promise<void>;
}

/** Steps 2–4 above. Throws (nothing listening, history unlocked) when a step fails. */
export async function startService(opts: ServiceOptions): Promise<Service> {
  const { host, port } = parseListenAddress(opts.listenAddress);
  const clock = opts.clock ?? realClock;
  const history = openHistoryFile(opts.historyFile, {
    resetCorrupt: opts.resetCorruptHistory ?? false,
    log: opts.log,
    create: (file) => new DurableHistoryStore(file, clock, opts.log),
  });
  let daemon: Daemon | null = null;
  let app: FastifyInstance | null = null;
  try {
    daemon = new Daemon({
      config: opts.config,
      configFile: opts.configFile,
      history: history.store,
      measure: opts.measure,
      ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
      ...(opts.locate ? { locate: opts.locate } : {}),
      openerFactory: opts.openerFactory,
      log: opts.log,
      clock,
      ...(opts.shard ? { shard: opts.shard } : {}),
    });
    const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
    const gate = new AnalysisGate(limits.maxConcurrentAnalyses);
    const store = history.store;
    const model = daemonReadModel(daemon);
    const httpCounters = new HttpCounters();
    const renderer = new MetricsRenderer(model, Date.now, { analyses: () => gate.snapshot(), historyWriteFailures: () => store.writeFailures, http: httpCounters });
    app = await buildApp({
      model,
      renderer,
      analyze: opts.analyze,
      webConfig: opts.webConfig,
      enableLifecycle: opts.enableLifecycle,
      enableAdminApi: opts.enableAdminApi,
      limits,
      gate,
      httpCounters,
      log: opts.log,
    });
    const server = app;
    let address: string;
    try {
      address = await server.listen({ host: host ?? '::', port });
    } catch (err) {
      // No IPv6 on this host: ":port" falls back to every IPv4 interface.
      if (host === null && (err as NodeJS.ErrnoException).code === 'EAFNOSUPPORT') address = await server.listen({ host: '0.0.0.0', port });
      else throw err;
    }
    // fastify names the scheme from its own https option, which the server factory replaces.
    if (opts.webConfig?.tls) address = address.replace(/^http:/, 'https:');
    const running = daemon;
    running.start();
    // `passive:` — a capture that cannot start (no CAP_NET_RAW, …) stops serve here with its reason
    // (exit 3), rather than a daemon that runs and exports nothing (or a unit restarting in a loop).
    await running.whenStarted();
    opts.log.info(`listening on ${address}${opts.webConfig?.tls ? ' (TLS)' : ''}${opts.webConfig?.basicAuthUsers.size ? ' (basic auth)' : ''}`);
    let closing: Promise<void> | null = null;
    const shutdown = () =>
      (closing ??= (async () => {
        opts.log.info('shutting down');
        await Promise.allSettled([server.close(), running.shutdown()]);
        history.releaseLock();
      })());
    return { daemon: running, app: server, url: address, shutdown };
  } catch (err) {
    // Never half-started: whatever step failed, nothing stays listening and the lock is released.
    if (app) await app.close().catch(() => undefined);
    if (daemon) await daemon.shutdown();
    else history.store.close();
    history.releaseLock();
    throw err;
  }
}

/** Steps 1–4 and the life after: resolves with the exit code once the service has stopped. */
export async function runService(opts: ServiceOptions): Promise<number> {
  const signals = new ServeSignals(opts.log);
  const service = await startService(opts);
  const log = opts.log;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = () => {
      if (stopping) return;
      log.info('SIGHUP: reloading the config');
      void service.daemon.reload();
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping`);
      const backstop = setTimeout(() => {
        log.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting anyway`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS - 300);
      backstop.unref();
      void service.shutdown().then(() => {
        clearTimeout(backstop);
        resolve(0);
      });
    };
    signals.takeOver(onHup, onStop);
  });
}
