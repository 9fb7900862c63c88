// `idleprobe serve`: the Prometheus exporter daemon. Thin: parse flags, load configs, start the
// service, wait for a signal. `--config.check` validates both config files and exits.
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { loadConfigFile } from '../daemon/config.ts';
import { DEFAULT_LISTEN_ADDRESS, parseListenAddress } from '../daemon/listen-address.ts';
import { loadWebConfig } from '../exporter/web-config.ts';
import { stderrLogger, type LogLevel } from '../daemon/log.ts';
import { runUntilSignalled, startService } from '../daemon/service.ts';
import { analyzeUpload, heartbeatWithProber, measureWithProber, sshOpenerFactory } from '../daemon/wiring.ts';
import { formatShard, ownsTarget, parseShard, type Shard } from '../daemon/shard.ts';

interface ServeFlags {
  config?: string;
  'web.listenAddress': string;
  'web.configFile'?: string;
  history: string;
  'config.check'?: boolean;
  'log.level': LogLevel;
  shard: string;
}

export function command(): Command {
  return new Command('serve')
    .description('Run as a Prometheus exporter: measure configured targets on a schedule, serve /metrics, /probe and a JSON API.')
    .option('--config <file>', 'YAML config file (targets, modules, global limits)')
    .option('--web.listen-address <addr>', 'address to listen on, [host]:port', DEFAULT_LISTEN_ADDRESS)
    .option('--web.config.file <file>', 'exporter-toolkit web config (TLS, basic auth)')
    .option('--history <file>', 'SQLite file for measurement history (":memory:" keeps none)', 'idleprobe-history.sqlite')
    .option('--config.check', 'validate the config file(s) and exit')
    .option('--log.level <level>', 'debug, info, warn or error', 'info')
    .option('--shard <i/n>', 'serve only the targets whose fnv1a32(name) mod n == i (replica i of n)', '0/1')
    .action(async (flags: ServeFlags) => {
      if (!flags.config) throw new UsageError('serve: --config <file> is required');
      if (!['debug', 'info', 'warn', 'error'].includes(flags['log.level'])) {
        throw new UsageError(`serve: --log.level must be debug, info, warn or error, not ${JSON.stringify(flags['log.level'])}`);
      }
      let shard: Shard;
      try {
        parseListenAddress(flags['web.listenAddress']);
        shard = parseShard(flags.shard);
      } catch (err) {
        throw new UsageError(`serve: ${(err as Error).message}`);
      }
      const config = loadConfigFile(flags.config);
      const webConfig = flags['web.configFile'] ? loadWebConfig(flags['web.configFile']) : undefined;
      if (flags['config.check']) {
        // Every target is validated whatever the shard; the count says what this replica would run.
        const own = config.targets.filter((t) => ownsTarget(shard, t.spec.name)).length;
        const shardNote = shard.count > 1 ? ` (shard ${formatShard(shard)} runs ${own} of them)` : '';
        process.stdout.write(`${flags.config}: OK, ${config.targets.length} target(s)${shardNote}, ${Object.keys(config.modules).length} module(s)\n`);
        if (flags['web.configFile']) process.stdout.write(`${flags['web.configFile']}: OK\n`);
        return;
      }
      const log = stderrLogger(flags['log.level']);
      const service = await startService({
        config,
        configFile: flags.config,
        historyFile: flags.history,
        listenAddress: flags['web.listenAddress'],
        webConfig,
        measure: measureWithProber,
        heartbeat: heartbeatWithProber,
        openerFactory: sshOpenerFactory,
        analyze: analyzeUpload,
        log,
        shard,
      });
      process.exitCode = await runUntilSignalled(service, log);
    });
}
