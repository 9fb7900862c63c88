// `idleprobe advise [TARGET] [--timeout S | --history F] [--check-local HOST] [--json]`: turns the
// path's measured idle timeout into ServerAliveInterval/ClientAliveInterval settings, and checks what
// OpenSSH on this machine actually applies. Thin: gather inputs, call the pure advice, print.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { interruptedError, UsageError } from './errors.ts';
import { addNameOption, heartbeatTarget, usage, type NamedConnectionFlags } from './heartbeat.ts';
import { addConnectionOptions, parseTargetArg } from './target-spec.ts';
import { parseAgeRange } from './measure.ts';
import { progressLine } from './progress.ts';
import { MEASURE_DEFAULTS, measureTarget } from '../probe/measure.ts';
import { formatEndpoint, type TargetSpec } from '../probe/target.ts';
import { parseDurationSeconds } from '../duration.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { basisFromMeasurement, basisFromSeconds, type TimeoutBasis } from '../advise/timeout-basis.ts';
import { basisFromHistory } from './timeout-source.ts';
import { buildAdvice, formatAdvice, type LocalCheckReport } from '../advise/report.ts';
import { recommend } from '../advise/recommend.ts';
import { safeIdleLimitSeconds } from '../advise/timeout-basis.ts';
import { judgeClient, judgeServer } from '../advise/judge-local.ts';
import { effectiveClientConfig, inspectServer, kernelTcpKeepaliveTime } from '../advise/local-checks.ts';
import type { SnippetTarget } from '../advise/snippets.ts';
import { hopFromFlag, readLocateDocument, type EnforcingHop } from '../advise/enforcing-hop.ts';

interface AdviseFlags extends NamedConnectionFlags {
  timeout?: string;
  history?: string;
  matrix?: string;
  checkLocal?: string;
  sshdConfig?: string;
  serverCheck: boolean;
  hostAlias?: string;
  countMax?: string;
  min?: string;
  max?: string;
  json?: boolean;
  locate?: string;
  hop?: string;
}

export function command(): Command {
  const cmd = new Command('advise')
    .description(
      'Recommend ServerAliveInterval/ClientAliveInterval for a path from its measured idle timeout (by hand, from history, or measured now), with ready-to-paste ~/.ssh/config and sshd_config snippets; --check-local shows what OpenSSH here really applies.',
    )
    .argument('[target]', '[user@]host[:port] (measured now unless --timeout or --history is given)')
    .option('--timeout <duration>', 'the path idle timeout, given by hand (10 = seconds, or 10s, 5m)')
    .option('--history <file>', "use the target's latest measurement in the daemon's history file")
    .option('--matrix <file>', 'also use a survival matrix (`idleprobe heartbeat --json` output)')
    .option('--check-local <host>', 'check the effective ServerAliveInterval for HOST via `ssh -G`, sshd via `sshd -T`, and the kernel keepalive')
    .option('--sshd-config <file>', 'with --check-local: check this sshd_config (`sshd -T -f FILE`)')
    .option('--no-server-check', 'with --check-local: skip the sshd checks')
    .option('--host-alias <name>', 'Host pattern for the ~/.ssh/config snippet (default: the --check-local host or the target host)')
    .option('--count-max <n>', 'use this ServerAliveCountMax instead of the derived one')
    .option('--min <duration>', 'when measuring: shortest idle age to try', String(MEASURE_DEFAULTS.minSeconds))
    .option('--max <duration>', 'when measuring: longest idle age to try', String(MEASURE_DEFAULTS.maxSeconds))
    .option('--locate <file>', 'name the hop enforcing the timeout from `idleprobe locate --json` output (also the timeout, if none is given otherwise)')
    .option('--hop <n>', 'the hop enforcing the timeout, given by hand')
    .option('--json', 'one JSON document on stdout');
  addConnectionOptions(addNameOption(cmd));
  return cmd.action(async (targetArg: string | undefined, f: AdviseFlags) => {
    if (f.timeout && f.history) throw new UsageError('give --timeout or --history, not both');
    if (f.locate && f.hop) throw new UsageError('give --locate or --hop, not both');
    const located = f.locate ? usage(() => readLocateDocument(f.locate!)) : null;
    const givenHop: EnforcingHop | null = located?.hop ?? (f.hop ? usage(() => hopFromFlag(f.hop!)) : null);
    if (!targetArg && !f.timeout && !f.history && !f.checkLocal && !located?.basis) throw new UsageError('give a TARGET to measure, --timeout S, --history F with --name, or --check-local HOST');
    // --ssh-config (-F) resolves TARGET and, with --check-local, the checked host.
    if (f.sshdConfig && !f.checkLocal) throw new UsageError('--sshd-config only applies with --check-local HOST');
    const countMax = f.countMax === undefined ? undefined : Number(f.countMax);
    if (countMax !== undefined && !(Number.isInteger(countMax) && countMax >= 1)) throw new UsageError(`--count-max: "${f.countMax}" must be an integer ≥ 1`);

    const target = parseTarget(targetArg, f);
    // --locate's document gives the timeout only when neither --timeout nor --history does.
    const resolved = !f.timeout && !f.history && located?.basis ? { basis: located.basis, matrix: null, hop: null } : await resolveBasis(targetArg, target, f);
    const basis = resolved.basis;
    // --history: the target's latest matrix there counts too, as it does for the daemon's metric.
    const matrix = f.matrix ? readMatrix(f.matrix) : resolved.matrix;
    // --history: the daemon's latest locate run names the hop too, unless --locate/--hop did.
    const enforcingHop = givenHop ?? resolved.hop ?? null;
    const name = target?.name ?? f.name ?? f.checkLocal ?? 'the path';

    const snippetTarget: SnippetTarget = {
      hostPattern: f.hostAlias ?? f.checkLocal ?? target?.host ?? '*',
      hostName: target?.host,
      port: target?.port,
      user: target?.user ?? undefined,
    };
    const local = f.checkLocal ? await checkLocal(f, basis, matrix, countMax) : null;
    const advice = usage(() => buildAdvice(name, snippetTarget, basis, matrix, countMax, local, enforcingHop));
    if (f.json) process.stdout.write(JSON.stringify(advice, null, 2) + '\n');
    else process.stdout.write(formatAdvice(advice));
  });
}

interface ParsedTarget {
  host: string;
  port: number;
  /** Set only when we will connect (no --timeout/--history); then credentials are checked too. */
  spec: TargetSpec | null;
  connectTimeoutMs: number;
  name: string;
  /** The user when TARGET names one (user@host): then the snippet sets User too. */
  user: string | null;
  /** --min/--max when measuring. */
  minSeconds: number;
  maxSeconds: number;
}

/** The target's host/port for the snippet; a full TargetSpec only when we will connect. */
function parseTarget(targetArg: string | undefined, f: AdviseFlags): ParsedTarget | null {
  if (!targetArg) return null;
  const t = parseTargetArg(targetArg);
  if (!f.timeout && !f.history && !f.locate) {
    // Measured now: the search flags first (no ssh -G for a bad --min), then the connection.
    const range = parseAgeRange(f.min ?? String(MEASURE_DEFAULTS.minSeconds), f.max ?? String(MEASURE_DEFAULTS.maxSeconds));
    const { connection, spec } = heartbeatTarget(targetArg, f);
    for (const line of connection.provenance) process.stderr.write(line + '\n');
    return { host: spec.host, port: spec.port, spec, connectTimeoutMs: connection.connectTimeoutMs, name: spec.name, user: t.user, ...range };
  }
  // No connection: no host key or credentials needed, but the name must parse.
  const user = t.user ?? process.env.USER ?? process.env.LOGNAME ?? 'root';
  const port = t.port ?? 22;
  return { host: t.host, port, spec: null, connectTimeoutMs: MEASURE_DEFAULTS.connectTimeoutMs, name: f.name ?? formatEndpoint(user, t.host, port), user: t.user, minSeconds: MEASURE_DEFAULTS.minSeconds, maxSeconds: MEASURE_DEFAULTS.maxSeconds };
}

async function resolveBasis(targetArg: string | undefined, target: ParsedTarget | null, f: AdviseFlags): Promise<{ basis: TimeoutBasis; matrix: HeartbeatMatrix | null; hop?: EnforcingHop | null }> {
  if (f.timeout) return { basis: usage(() => basisFromSeconds(parseDurationSeconds(f.timeout!, '--timeout'))), matrix: null };
  if (f.history) {
    const names = [f.name, target?.name, targetArg].filter((x): x is string => !!x);
    if (!names.length) throw new UsageError('--history needs a TARGET or --name to look up');
    const { basis, matrix, located } = basisFromHistory(f.history, [...new Set(names)]);
    return { basis, matrix, hop: located ? { ...located, source: `locate run in ${f.history}` } : null };
  }
  if (!target?.spec) {
    // Only --check-local: no timeout known, the advice falls back to the 20–45 s rule.
    return { basis: { bracket: null, direction: null, failureMode: null, verdicts: [], serverHeartbeatSeconds: null, probedUpToSeconds: null }, matrix: null };
  }
  const { minSeconds, maxSeconds } = target;
  process.stderr.write(`idleprobe: measuring ${target.spec.name} (takes a small multiple of its idle timeout)…\n`);
  const progress = progressLine();
  const controller = new AbortController();
  const onSignal = () => controller.abort(interruptedError());
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const m = await measureTarget(target.spec, {
      ...MEASURE_DEFAULTS,
      minSeconds,
      maxSeconds,
      connectTimeoutMs: target.connectTimeoutMs,
      signal: controller.signal,
      onProgress: (p) => progress.update(p),
      onSessionsOpen: (n) => progress.sessions(n),
    });
    return { basis: basisFromMeasurement(m), matrix: null };
  } finally {
    progress.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function readMatrix(file: string): HeartbeatMatrix {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--matrix: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const m = doc as Partial<HeartbeatMatrix>;
  if (!m || !Array.isArray(m.results) || typeof m.windowSeconds !== 'number') {
    throw new UsageError(`--matrix: ${file} is not the output of \`idleprobe heartbeat --json\` (no results/windowSeconds)`);
  }
  return m as HeartbeatMatrix;
}

async function checkLocal(f: AdviseFlags, basis: TimeoutBasis, matrix: HeartbeatMatrix | null, countMax: number | undefined): Promise<LocalCheckReport> {
  const rec = usage(() => recommend(basis, matrix, { countMax }));
  const limit = safeIdleLimitSeconds(basis, matrix);
  const client = await effectiveClientConfig(f.checkLocal!, f.sshConfig || undefined);
  const report: LocalCheckReport = {
    client: { effective: client, findings: judgeClient(client, limit, rec) },
    server: null,
    kernel: null,
  };
  if (f.serverCheck !== false) {
    const s = await inspectServer({ sshdConfigFile: f.sshdConfig });
    report.server = {
      available: s.available,
      reason: s.reason,
      effective: s.effective,
      pid: s.process?.pid ?? null,
      startedAt: s.process?.startedAtMs != null ? new Date(s.process.startedAtMs).toISOString() : null,
      findings: s.effective ? judgeServer(s.effective, s.process, s.configFiles, limit, rec) : [],
    };
  }
  const keepalive = kernelTcpKeepaliveTime();
  // Judged in buildAdvice with the path's facts (tcp-keepalive.ts), beside the client's TCPKeepAlive.
  report.kernel = { tcpKeepaliveTimeSeconds: keepalive, findings: [] };
  return report;
}
