// `idleprobe serve`: the Prometheus exporter daemon. Thin: parse flags, load configs, hand over to
// the composition root (src/app/service.ts). `--config.check` validates both config files and exits.
// Flags are read through the Option objects that declared them (attributeName()), never through a
// hand-written key: `--web.config.file` was once silently ignored because its key was misspelt.
import { Command, Option } from 'commander';
import { UsageError } from './errors.ts';
import { formatDurationMs, parseDurationMs } from '../duration.ts';
import { loadConfigFile } from '../daemon/config.ts';
import { DEFAULT_LISTEN_ADDRESS, parseListenAddress } from '../daemon/listen-address.ts';
import { loadWebConfig } from '../exporter/web-config.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../exporter/limits.ts';
import { LOG_LEVELS, stderrLogger, type LogLevel } from '../log.ts';
import { RESET_CORRUPT_FLAG } from '../daemon/history-file.ts';
import { runService } from '../app/service.ts';
import { analyzeUpload, heartbeatWithProber, locateWithProber, measureWithProber, sshOpenerFactory } from '../app/wiring.ts';
import { formatShard, ownsTarget, parseShard } from '../daemon/shard.ts';
import { DEMO_LISTEN_ADDRESS, checkDemoListenAddress, startDemoLabs } from '../app/demo.ts';

/** A duration flag in the one grammar (src/duration.ts: 10, 10s, 500ms, 5m, 1h30m) → ms. */
export function parseDuration(flag: string) {
  return (value: string): number => parseDurationMs(value, flag);
}

function parseCount(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`serve: ${flag} must be an integer ≥ 1, not ${JSON.stringify(value)}`);
    return n;
  };
}

const secs = formatDurationMs;

const OPT = {
  config: new Option('--config <file>', 'YAML config file (targets, modules, global limits)'),
  listen: new Option('--web.listen-address <addr>', 'address to listen on, [host]:port').default(DEFAULT_LISTEN_ADDRESS),
  webConfig: new Option('--web.config.file <file>', 'exporter-toolkit web config (TLS, basic auth)'),
  lifecycle: new Option('--web.enable-lifecycle', 'enable POST /-/reload (SIGHUP reloads either way)'),
  admin: new Option('--web.enable-admin-api', 'enable the routes that start work: POST /api/measure/:name, /api/heartbeat/:name, /api/analyze'),
  headerTimeout: new Option('--web.read-header-timeout <duration>', 'time a client has to send the request headers').default(DEFAULT_HTTP_LIMITS.headersTimeoutMs, secs(DEFAULT_HTTP_LIMITS.headersTimeoutMs)).argParser(parseDuration('--web.read-header-timeout')),
  requestTimeout: new Option('--web.request-timeout <duration>', 'time a client has to send a whole request, upload included').default(DEFAULT_HTTP_LIMITS.requestTimeoutMs, secs(DEFAULT_HTTP_LIMITS.requestTimeoutMs)).argParser(parseDuration('--web.request-timeout')),
  idleTimeout: new Option('--web.idle-timeout <duration>', 'a connection silent this long is closed (a stalled upload too)').default(DEFAULT_HTTP_LIMITS.idleTimeoutMs, secs(DEFAULT_HTTP_LIMITS.idleTimeoutMs)).argParser(parseDuration('--web.idle-timeout')),
  maxConnections: new Option('--web.max-connections <n>', 'open HTTP connections at once (at the cap an opening or idle one is closed for a newcomer)').default(DEFAULT_HTTP_LIMITS.maxConnections).argParser(parseCount('--web.max-connections')),
  maxConnectionsPerClient: new Option('--web.max-connections-per-client <n>', 'open HTTP connections of one client address (IPv6: /64) at once').default(DEFAULT_HTTP_LIMITS.maxConnectionsPerClient).argParser(parseCount('--web.max-connections-per-client')),
  connectionRate: new Option('--web.client-connection-rate <n>', 'new connections one client address may open per second (burst 4 × n); more are closed at accept').default(DEFAULT_HTTP_LIMITS.connectionRatePerClient).argParser(parseCount('--web.client-connection-rate')),
  maxRequestsPerConnection: new Option('--web.max-requests-per-connection <n>', 'requests one connection may send before it is closed; pipelined ones beyond get 503').default(DEFAULT_HTTP_LIMITS.maxRequestsPerConnection).argParser(parseCount('--web.max-requests-per-connection')),
  requestsPerSecond: new Option('--web.requests-per-second <n>', 'API and page requests (all but /metrics, /probe and /-/*) started per second over all clients; more get 503').default(DEFAULT_HTTP_LIMITS.requestsPerSecond).argParser(parseCount('--web.requests-per-second')),
  maxConcurrentRequests: new Option('--web.max-concurrent-requests <n>', 'API and page requests (all but /metrics, /probe and /-/*) in progress at once; more get 503').default(DEFAULT_HTTP_LIMITS.maxConcurrentRequests).argParser(parseCount('--web.max-concurrent-requests')),
  maxAnalyses: new Option('--analyze.max-concurrent <n>', 'capture analyses (POST /api/analyze) at once; more get 429').default(DEFAULT_HTTP_LIMITS.maxConcurrentAnalyses).argParser(parseCount('--analyze.max-concurrent')),
  minUploadRate: new Option('--analyze.min-upload-rate <bytes/s>', 'an upload slower than this (over each 10 s) is cut with 408').default(DEFAULT_HTTP_LIMITS.minUploadBytesPerSecond).argParser(parseCount('--analyze.min-upload-rate')),
  maxLiveFlows: new Option('--analyze.max-live-flows <n>', 'connections an analysis holds at once (then evicts half-open/idle ones, counted)').default(DEFAULT_HTTP_LIMITS.maxLiveFlows).argParser(parseCount('--analyze.max-live-flows')),
  history: new Option('--history <file>', 'SQLite file for measurement history (":memory:" keeps none)').default('idleprobe-history.sqlite'),
  resetCorrupt: new Option(RESET_CORRUPT_FLAG, 'if the history file is corrupt, move it aside (FILE.corrupt-<time>) and start a fresh one'),
  check: new Option('--config.check', 'validate the config file(s) and exit'),
  logLevel: new Option('--log.level <level>', 'debug, info, warn or error').default('info').choices(LOG_LEVELS),
  shard: new Option('--shard <i/n>', 'serve only the targets whose fnv1a32(name) mod n == i (replica i of n)').default('0/1'),
  demo: new Option('--demo', `no config: measure the built-in demo lab (SSH servers behind middleboxes with short idle timeouts), history in memory, on loopback only (default ${DEMO_LISTEN_ADDRESS})`),
} as const;

export function command(): Command {
  const cmd = new Command('serve').description('Run as a Prometheus exporter: measure configured targets on a schedule, serve /metrics, /probe and a JSON API.');
  for (const o of Object.values(OPT)) cmd.addOption(o);
  return cmd.action(async () => {
    const raw = cmd.opts();
    const get = <T>(o: Option): T => raw[o.attributeName()] as T;
    const configFile = get<string | undefined>(OPT.config);
    const demo = get<boolean | undefined>(OPT.demo) === true;
    if (demo) checkDemoFlags(cmd);
    else if (!configFile) throw new UsageError('serve: --config <file> is required (or --demo to try it on the built-in demo lab)');
    const listenAddress = demo && cmd.getOptionValueSource(OPT.listen.attributeName()) === 'default' ? DEMO_LISTEN_ADDRESS : get<string>(OPT.listen);
    let shard;
    try {
      parseListenAddress(listenAddress);
      if (demo) checkDemoListenAddress(listenAddress);
      shard = parseShard(get<string>(OPT.shard));
    } catch (err) {
      throw new UsageError(`serve: ${(err as Error).message}`);
    }
    const limits: Partial<HttpLimits> = {
      headersTimeoutMs: get(OPT.headerTimeout),
      requestTimeoutMs: get(OPT.requestTimeout),
      idleTimeoutMs: get(OPT.idleTimeout),
      maxConnections: get(OPT.maxConnections),
      maxConnectionsPerClient: get(OPT.maxConnectionsPerClient),
      connectionRatePerClient: get(OPT.connectionRate),
      maxRequestsPerConnection: get(OPT.maxRequestsPerConnection),
      maxConcurrentRequests: get(OPT.maxConcurrentRequests),
      requestsPerSecond: get(OPT.requestsPerSecond),
      minUploadBytesPerSecond: get(OPT.minUploadRate),
      maxConcurrentAnalyses: get(OPT.maxAnalyses),
      maxLiveFlows: get(OPT.maxLiveFlows),
    };
    if (limits.headersTimeoutMs! > limits.requestTimeoutMs!) throw new UsageError('serve: --web.read-header-timeout must not exceed --web.request-timeout');
    const webConfigFile = get<string | undefined>(OPT.webConfig);
    const webConfig = webConfigFile ? loadWebConfig(webConfigFile) : undefined;
    const labs = demo ? await startDemoLabs() : null;
    const config = labs?.config ?? loadConfigFile(configFile!);
    if (get<boolean | undefined>(OPT.check)) {
      // Every target is validated whatever the shard; the count says what this replica would run.
      const own = config.targets.filter((t) => ownsTarget(shard, t.spec.name)).length;
      const shardNote = shard.count > 1 ? ` (shard ${formatShard(shard)} runs ${own} of them)` : '';
      const p = config.passive;
      const passiveNote = p ? `, passive capture on ${p.interface} (${p.filter}) with ${p.servers.length} server(s) and tcpdump ${p.tcpdumpPath}` : '';
      process.stdout.write(`${configFile}: OK, ${config.targets.length} target(s)${shardNote}, ${Object.keys(config.modules).length} module(s)${passiveNote}\n`);
      if (webConfigFile && webConfig) {
        const what = [
          webConfig.tls ? 'TLS' : 'no TLS',
          webConfig.basicAuthUsers.size ? `basic auth (${webConfig.basicAuthUsers.size} user(s))` : 'no basic auth',
          ...(webConfig.rateLimit ? [`rate limit ${webConfig.rateLimit.burst} request(s), then one per ${webConfig.rateLimit.intervalMs} ms, per client`] : []),
        ];
        process.stdout.write(`${webConfigFile}: OK, ${what.join(', ')}\n`);
      }
      return;
    }
    const log = stderrLogger(get<LogLevel>(OPT.logLevel));
    const lifecycle = get<boolean | undefined>(OPT.lifecycle) ?? false;
    const admin = get<boolean | undefined>(OPT.admin) ?? false;
    log.debug(
      `serve: config ${configFile}, history ${get<string>(OPT.history)}, web config ${webConfigFile ?? 'none'}, lifecycle API ${lifecycle ? 'on' : 'off'}, admin API ${admin ? 'on' : 'off'}, limits ${JSON.stringify(limits)}`,
    );
    if (labs) log.info(`demo: ${config.targets.map((t) => t.spec.name).join(', ')} on the built-in demo lab; history in memory`);
    process.exitCode = await runService({
      config,
      configFile,
      historyFile: labs ? ':memory:' : get<string>(OPT.history),
      resetCorruptHistory: get<boolean | undefined>(OPT.resetCorrupt) ?? false,
      listenAddress,
      webConfig,
      enableLifecycle: lifecycle,
      enableAdminApi: admin,
      limits,
      measure: measureWithProber,
      heartbeat: heartbeatWithProber,
      locate: locateWithProber,
      openerFactory: sshOpenerFactory,
      analyze: analyzeUpload,
      log,
      shard,
    }).finally(() => labs?.close());
  });
}

/** Flags that make no sense with --demo (it has its own targets, keeps its history in memory and serves all of them). */
function checkDemoFlags(cmd: Command): void {
  const given = [OPT.config, OPT.check, OPT.history, OPT.resetCorrupt, OPT.shard].filter((o) => cmd.getOptionValueSource(o.attributeName()) === 'cli');
  if (given.length) throw new UsageError(`serve: --demo runs its own targets with the history in memory; it cannot be combined with ${given.map((o) => o.long).join(', ')}`);
}
