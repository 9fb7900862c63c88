// `idleprobe serve --demo`: the daemon with no config file, measuring the built-in demo lab — a few
// in-process SSH servers behind userspace middleboxes with different idle timeouts and failure
// modes (silent drop, reset, one masked by the server's own heartbeats, one whose host key does not
// match its pin) — so the status page and /metrics show results within a minute, on loopback only,
// with the history in memory. Part of the composition root: it knows the demo lab and the daemon.
import { startDemoLab, type DemoLab } from '../demo/lab.ts';
import type { MiddleboxMode } from '../demo/middlebox.ts';
import { demoMeasureOptions } from '../demo/measure-range.ts';
import { resolveConfig, type DaemonConfig } from '../daemon/config.ts';
import { parseListenAddress } from '../daemon/listen-address.ts';

export const DEMO_LISTEN_ADDRESS = '127.0.0.1:9923';

export interface DemoTarget {
  name: string;
  timeoutSeconds: number;
  mode: MiddleboxMode;
  /** The demo server's own heartbeat (sshd ClientAliveInterval): hides the path timeout. */
  serverHeartbeatSeconds?: number;
  /** Also run a heartbeat survival matrix on this one. */
  matrix?: boolean;
}

/** Short timeouts, so the first results land within a minute; each shows another failure mode. */
export const DEMO_TARGETS: readonly DemoTarget[] = [
  { name: 'nat-12s-silent', timeoutSeconds: 12, mode: 'silent', matrix: true },
  { name: 'firewall-20s-reset', timeoutSeconds: 20, mode: 'reset' },
  { name: 'masked-by-server-heartbeat', timeoutSeconds: 15, mode: 'silent', serverHeartbeatSeconds: 4 },
];

/** A target whose pinned host key is not the server's: the daemon refuses it (status failing), as it must. */
export const DEMO_WRONG_KEY_TARGET = 'host-key-mismatch';

/** Measurements every 3 minutes, matrices every 10: a live page without keeping the CPU busy. */
const MEASURE_SCHEDULE = '*/3 * * * *';
const MATRIX_SCHEDULE = '*/10 * * * *';

export function isLoopbackHost(host: string | null): boolean {
  if (host === null) return false;
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Refuses a listen address that is not loopback: the demo's SSH servers accept a generated key anyone could learn from the page. */
export function checkDemoListenAddress(addr: string): void {
  const { host } = parseListenAddress(addr);
  if (!isLoopbackHost(host)) {
    throw new Error(`--demo listens on loopback only (127.0.0.1, ::1 or localhost), not ${JSON.stringify(addr)}: the demo lab is for this machine; use --config with real targets to serve others`);
  }
}

export interface DemoLabs {
  config: DaemonConfig;
  labs: DemoLab[];
  close(): Promise<void>;
}

/** Starts the labs and builds the daemon's config for them (nothing read from disk but the generated keys). */
export async function startDemoLabs(targets: readonly DemoTarget[] = DEMO_TARGETS): Promise<DemoLabs> {
  const labs: DemoLab[] = [];
  try {
    for (const t of targets) labs.push(await startDemoLab({ timeoutSeconds: t.timeoutSeconds, mode: t.mode, serverHeartbeatSeconds: t.serverHeartbeatSeconds }));
  } catch (err) {
    await Promise.allSettled(labs.map((l) => l.close()));
    throw err;
  }
  const target = (t: DemoTarget, lab: DemoLab) => {
    const range = demoMeasureOptions(t.timeoutSeconds);
    return {
      name: t.name,
      host: lab.host,
      port: lab.port,
      user: lab.user,
      private_key_file: lab.privateKeyPath,
      host_key_sha256: lab.hostKeySha256,
      module: 'demo',
      min_seconds: range.minSeconds,
      max_seconds: range.maxSeconds,
      ...(t.matrix ? { heartbeat: { intervals: [4, 8, Math.ceil(t.timeoutSeconds * 1.4)], window: Math.ceil(t.timeoutSeconds * 3.5), count_max: 2, schedule: MATRIX_SCHEDULE } } : {}),
    };
  };
  const first = labs[0];
  const raw = {
    global: { jitter_seconds: 0, max_sessions: 40, history_retention_days: 1 },
    modules: { demo: { schedule: MEASURE_SCHEDULE, sessions: 6 } },
    targets: [
      ...targets.map((t, i) => target(t, labs[i])),
      // The first lab's server under a pin of another key: never logged into, always refused.
      ...(first ? [{ ...target({ name: DEMO_WRONG_KEY_TARGET, timeoutSeconds: targets[0].timeoutSeconds, mode: targets[0].mode }, first), host_key_sha256: `SHA256:${'A'.repeat(43)}`, directions: ['outbound'] }] : []),
    ],
  };
  return {
    config: resolveConfig(raw),
    labs,
    close: async () => {
      await Promise.allSettled(labs.map((l) => l.close()));
    },
  };
}
