// The running service behind `idleprobe serve`: daemon core + HTTP app + signals. SIGHUP reloads;
// SIGTERM/SIGINT shut down within 5 s (sessions closed, HTTP closed, history flushed), with a hard
// exit as the backstop if something hangs.
import type { FastifyInstance } from 'fastify';
import { Daemon } from './daemon.ts';
import type { DaemonConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { HeartbeatFn, MeasureFn, OpenerFactory } from './runner.ts';
import { parseListenAddress } from './listen-address.ts';
import { buildApp, type AnalyzeFn } from '../exporter/app.ts';
import { MetricsRenderer } from '../exporter/metrics.ts';
import type { WebConfig } from '../exporter/web-config.ts';
import type { Shard } from './shard.ts';

export const SHUTDOWN_DEADLINE_MS = 5000;

export interface ServiceOptions {
  config: DaemonConfig;
  configFile: string;
  historyFile: string;
  listenAddress: string;
  webConfig?: WebConfig;
  measure: MeasureFn;
  heartbeat?: HeartbeatFn;
  openerFactory?: OpenerFactory;
  analyze?: AnalyzeFn;
  log: Logger;
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

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { host, port } = parseListenAddress(opts.listenAddress);
  const daemon = new Daemon({
    config: opts.config,
    configFile: opts.configFile,
    historyFile: opts.historyFile,
    measure: opts.measure,
    ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    openerFactory: opts.openerFactory,
    log: opts.log,
    ...(opts.shard ? { shard: opts.shard } : {}),
  });
  const renderer = new MetricsRenderer(daemon);
  const app = await buildApp({ daemon, renderer, analyze: opts.analyze, webConfig: opts.webConfig });
  let address: string;
  try {
    address = await app.listen({ host: host ?? '::', port });
  } catch (err) {
    // No IPv6 on this host: ":port" falls back to every IPv4 interface.
    if (host === null && (err as NodeJS.ErrnoException).code === 'EAFNOSUPPORT') address = await app.listen({ host: '0.0.0.0', port });
    else {
      await daemon.shutdown();
      throw err;
    }
  }
  // Schedules start only once the port is ours: a daemon that cannot serve must not measure.
  daemon.start();
  opts.log.info(`listening on ${address}`);
  let closing: Promise<void> | null = null;
  const shutdown = () =>
    (closing ??= (async () => {
      opts.log.info('shutting down');
      await Promise.allSettled([app.close(), daemon.shutdown()]);
    })());
  return { daemon, app, url: address, shutdown };
}

/** Wires SIGHUP/SIGTERM/SIGINT; resolves with the exit code once the service has stopped. */
export function runUntilSignalled(service: Service, log: Logger): Promise<number> {
  return new Promise<number>((resolve) => {
    const onHup = () => {
      log.info('SIGHUP: reloading the config');
      void service.daemon.reload();
    };
    const onStop = (signal: NodeJS.Signals) => {
      log.info(`${signal}: stopping`);
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
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
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
